/*
 * cmd_gate — the operator's two commands of the reversibility gate
 * (R-28, R-30, R-15; docs/signatures.md):
 *
 *	felhom-admin [--config PATH] pending [--write-blob DIR] [--json]
 *	felhom-admin [--config PATH] approve OP_ID --signature FILE
 *
 * `pending` lists the ops waiting for a signature and can write each
 * one's exact bytes to sign; `approve` runs the locked pipeline on a
 * signature over an op's own blob and authorizes it through the same
 * state-machine transition the agent uses.
 */
#ifndef FELHOM_ADMIN_CMD_GATE_H
#define FELHOM_ADMIN_CMD_GATE_H

/* Exit 0, or sysexits (64 usage, 73 cannot write, 78 config, ...). */
int	cmd_pending(int argc, char **argv);
/* Exit 0 accepted, 1 rejected ("rejected: CODE: message"), else sysexits. */
int	cmd_approve(int argc, char **argv);

#endif
