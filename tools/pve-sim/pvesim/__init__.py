"""pve-sim: a Proxmox VE API simulator (Python standard library only)."""
