/*
 * cmd_engine — felhom-admin subcommands of the engine area.
 */
#ifndef FELHOM_ADMIN_CMD_ENGINE_H
#define FELHOM_ADMIN_CMD_ENGINE_H

/* felhom-admin states [--markdown]: the operation state machine. */
int	cmd_states(int argc, char **argv);

#endif
