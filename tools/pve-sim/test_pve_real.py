"""pve-sim behaves as Proxmox VE's own code where the agent relies on it
(issue 11): each test names the real file and function it checks the sim
against (the sources of pve-container 6.1, pve-manager 9.2, pve-storage
9.1, pve-common 9.2, pve-guest-common, pve-access-control 9.1), and the
section of shared/reference/pve-api.md whose statement it proves.

Run from the repository root:
    python3 -m unittest discover -s tools/pve-sim -p 'test_*.py'
"""

import time
import unittest

from test_pve_sim import Sim

FULL_ACL = {"/": ["*"]}


class RealPveTest(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--task-seconds", "0.1")
        cls.node = cls.sim.info["node"]
        cls.N = "/nodes/" + cls.node

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.ctl("POST", "/_sim/reset", {"world": True})
        self.sim.ctl("POST", "/_sim/acl", FULL_ACL)
        self.sim.ctl("POST", "/_sim/config", {"lock_timeout_scale": 1.0, "ha_delay": 1.0})

    # ---- helpers -------------------------------------------------------
    def world_guest(self, vmid):
        _, w = self.sim.ctl("GET", "/_sim/world")
        for g in w["guests"]:
            if g["vmid"] == vmid:
                return g
        return None

    def backup_of(self, vmid, storage="pbs"):
        vols = self.sim.ok("GET", self.N + "/storage/%s/content" % storage,
                           {"content": "backup", "vmid": vmid})
        self.assertTrue(vols, "no backup of %d on %s" % (vmid, storage))
        return vols[0]["volid"]

    def refused(self, method, path, params=None):
        st, reason, obj, _ = self.sim.api(method, path, params)
        return st, reason, obj

    # ---- §5.11 point 1: restore without storage --------------------------
    def test_restore_without_storage_defaults_to_local(self):
        """pve-container src/PVE/API2/LXC.pm create_vm: storage defaults to
        'local' and, without rootfs, $check_and_activate_storage refuses a
        storage without 'rootdir' content (400 on 'storage'); pve-api.md
        5.11."""
        archive = self.backup_of(104)
        st, reason, obj = self.refused("POST", self.N + "/lxc", {
            "vmid": 104, "restore": 1, "force": 1, "ostemplate": archive})
        self.assertEqual(st, 400)
        self.assertEqual(obj["errors"], {
            "storage": "storage 'local' does not support container directories"})
        # where 'local' allows containers the disks silently move there
        self.sim.ctl("POST", "/_sim/world/storage", {"storage": "local", "content":
                                                     ["iso", "vztmpl", "backup", "rootdir"]})
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 104, "restore": 1, "force": 1,
                                                    "ostemplate": archive})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        conf = self.sim.ok("GET", self.N + "/lxc/104/config")
        self.assertTrue(conf["rootfs"].startswith("local:104/vm-104-disk-0.raw"), conf["rootfs"])
        # and with 'storage' given, on that storage with the backup's size
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 104, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "storage": "local-lvm"})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        conf = self.sim.ok("GET", self.N + "/lxc/104/config")
        self.assertEqual(conf["rootfs"], "local-lvm:vm-104-disk-0,size=8G")

    # ---- §3/§5.11 point 2: restore over a running CT ---------------------
    def test_restore_over_a_running_ct_is_refused(self):
        """create_vm: die "can't overwrite running container" before
        anything else (pve-api.md 3 and 5.11)."""
        archive = self.backup_of(101)
        st, reason, _ = self.refused("POST", self.N + "/lxc", {
            "vmid": 101, "restore": 1, "force": 1, "ostemplate": archive,
            "storage": "local-lvm"})
        self.assertEqual((st, reason), (500, "can't overwrite running container"))
        self.assertEqual(self.world_guest(101)["status"], "running")

    # ---- §5.11/§6.2 point 3: bind and device mount points -----------------
    def test_bind_mount_restore_fails_for_a_token(self):
        """create_vm, storage-only branch: a non-root caller dies on the
        first non-volume mount point inside the worker; the existing CT is
        left as it was (the error comes before $destroy_config_on_error);
        explicit volumes skip the backup's mount points
        (Create.pm sanitize_and_merge_config: "don't recover mountpoints");
        pve-api.md 5.11."""
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 103, "status": "stopped"})
        before = self.world_guest(103)["config"]
        archive = self.backup_of(103)
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 103, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "storage": "local-lvm"})
        st = self.sim.wait(up)
        self.assertEqual(st["exitstatus"], "unable to restore CT 103 - restoring 'mp0' to "
                         "bind mount is only possible for root")
        g = self.world_guest(103)
        self.assertEqual(g["config"], before)
        self.assertIsNone(g["lock"])
        # volumes only: rootfs given explicitly, the bind mount is not restored
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 103, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "rootfs": "local-lvm:8"})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "WARNINGS: 1")
        conf = self.sim.ok("GET", self.N + "/lxc/103/config")
        self.assertNotIn("mp0", conf)
        # the new disk is made while the old one still exists (create_disks
        # before destroy_lxc_container)
        self.assertEqual(conf["rootfs"], "local-lvm:vm-103-disk-1,size=8G")

    def test_bind_mount_in_config_or_create_is_root_only(self):
        """pve-container src/PVE/LXC.pm check_ct_modify_config_perm: "mount
        point type bind is only allowed for root@pam" (403, set-config and
        create); pve-api.md 5.7 and 6.2."""
        st, reason, _ = self.refused("PUT", self.N + "/lxc/104/config",
                                     {"mp1": "/srv/x,mp=/x"})
        self.assertEqual((st, reason), (403, "Permission check failed (mount point type bind "
                                        "is only allowed for root@pam)"))
        st, reason, _ = self.refused("POST", self.N + "/lxc", {
            "vmid": 160, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "rootfs": "local-lvm:4", "mp0": "/dev/sdb1,mp=/d"})
        self.assertEqual((st, reason), (403, "Permission check failed (mount point type device "
                                        "is only allowed for root@pam)"))

    def test_extractconfig_returns_the_backed_up_config(self):
        """pve-manager PVE/API2/VZDump.pm extractconfig: the raw pct.conf of
        a backup, VM.Backup on its guest and Datastore.AllocateSpace on the
        storage (check_volume_access)."""
        archive = self.backup_of(103)
        raw = self.sim.ok("GET", self.N + "/vzdump/extractconfig", {"volume": archive})
        self.assertIn("mp0: /srv/data,mp=/data\n", raw)
        self.assertIn("rootfs: local-lvm:vm-103-disk-0,size=8G\n", raw)
        self.assertIn("lxc.cgroup2.devices.allow: c 189:* rwm\n", raw)
        self.sim.ctl("POST", "/_sim/acl", {"/": ["*"], "/vms/103": ["VM.Audit"]})
        st, reason, _ = self.refused("GET", self.N + "/vzdump/extractconfig",
                                     {"volume": archive})
        self.assertEqual((st, reason), (403, "Permission check failed (/vms/103, VM.Backup)"))

    def test_failed_late_restore_loses_the_old_ct(self):
        """create_vm: once the disks are created the old volumes (and every
        snapshot on them) are destroyed (destroy_lxc_container); an error
        after that removes the config ($destroy_config_on_error)."""
        archive = self.backup_of(101)
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 101, "status": "stopped"})
        self.sim.ctl("POST", "/_sim/task-fault", {"vmid": 101, "kind": "restore",
                                                  "exitstatus": "unable to restore CT 101 - "
                                                  "command 'tar' failed: exit code 2"})
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 101, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "storage": "local-lvm"})
        self.assertEqual(self.sim.wait(up)["status"], "stopped")
        self.assertIsNone(self.world_guest(101))
        # a successful restore replaces the CT: its snapshots are gone
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 101, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "storage": "local-lvm"})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        self.assertEqual(self.world_guest(101).get("snapshots", {}), {})

    # ---- §5.7/§5.11/§5.13 point 5: SDN.Use, Datastore.AllocateSpace -------
    def test_sdn_use_on_the_bridge(self):
        """pve-container src/PVE/LXC.pm check_ct_modify_config_perm ->
        check_bridge_access -> pve-guest-common GuestHelpers.pm
        check_vnet_access: SDN.Use on /sdn/zones/localnetwork/<bridge> for
        create and set-config (also deleting netN), and inside the restore
        worker for the backup's nets; pve-api.md 5.7 and 5.11."""
        acl = {"/": ["*"], "/sdn": {"privs": [], "propagate": True}}
        self.sim.ctl("POST", "/_sim/acl", acl)
        st, reason, _ = self.refused("PUT", self.N + "/lxc/104/config",
                                     {"net0": "name=eth0,bridge=vmbr1,ip=dhcp"})
        self.assertEqual((st, reason), (403, "Permission check failed "
                                        "(/sdn/zones/localnetwork/vmbr0, SDN.Use)"))
        st, reason, _ = self.refused("PUT", self.N + "/lxc/104/config", {"delete": "net0"})
        self.assertEqual((st, reason), (403, "Permission check failed "
                                        "(/sdn/zones/localnetwork/vmbr0, SDN.Use)"))
        st, reason, _ = self.refused("POST", self.N + "/lxc", {
            "vmid": 160, "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "storage": "local-lvm", "net0": "name=eth0,bridge=vmbr0,tag=20,ip=dhcp"})
        self.assertEqual((st, reason), (403, "Permission check failed "
                                        "(/sdn/zones/localnetwork/vmbr0/20, SDN.Use)"))
        archive = self.backup_of(104)
        up = self.sim.ok("POST", self.N + "/lxc", {"vmid": 104, "restore": 1, "force": 1,
                                                    "ostemplate": archive,
                                                    "storage": "local-lvm"})
        self.assertEqual(self.sim.wait(up)["exitstatus"], "unable to restore CT 104 - "
                         "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)")
        self.assertIsNotNone(self.world_guest(104))
        # granted on the bridge: all of it passes
        acl["/sdn/zones/localnetwork/vmbr0"] = ["SDN.Use"]
        acl["/sdn/zones/localnetwork/vmbr1"] = ["SDN.Use"]
        self.sim.ctl("POST", "/_sim/acl", acl)
        self.sim.ok("PUT", self.N + "/lxc/104/config", {"net0": "name=eth0,bridge=vmbr1,ip=dhcp"})
        perms = self.sim.ok("GET", "/access/permissions",
                            {"path": "/sdn/zones/localnetwork/vmbr1"})
        self.assertEqual(perms, {"/sdn/zones/localnetwork/vmbr1": {"SDN.Use": 1}})

    def test_backup_listing_needs_allocatespace(self):
        """pve-storage src/PVE/API2/Storage/Content.pm index filters every
        item with Storage.pm check_volume_access: a backup needs
        Datastore.AllocateSpace plus VM.Backup on its guest; with
        Datastore.Audit alone the list is silently empty; pve-api.md 5.13."""
        self.sim.ctl("POST", "/_sim/acl", {"/": ["Sys.Audit", "VM.Audit", "VM.Backup",
                                                 "Datastore.Audit"]})
        self.assertEqual(self.sim.ok("GET", self.N + "/storage/pbs/content",
                                     {"content": "backup"}), [])
        self.sim.ctl("POST", "/_sim/acl", {"/": ["Sys.Audit", "VM.Audit", "Datastore.Audit"],
                                           "/storage/pbs": ["Datastore.AllocateSpace"],
                                           "/vms/101": ["VM.Backup"]})
        vols = self.sim.ok("GET", self.N + "/storage/pbs/content", {"content": "backup"})
        self.assertEqual(sorted(v["vmid"] for v in vols), [101])

    # ---- §5.13 point 6: PBS details ---------------------------------------
    def test_pbs_details_come_from_the_storage_config(self):
        """pve-storage src/PVE/Storage.pm storage_info (node storage list:
        status only) vs src/PVE/API2/Storage/Config.pm index (storage.cfg:
        server, datastore, fingerprint; Datastore.Audit or
        Datastore.AllocateSpace per storage; no secrets); pve-api.md 5.13."""
        node = {s["storage"]: s for s in self.sim.ok("GET", self.N + "/storage")}
        for k in ("server", "datastore", "fingerprint", "username"):
            self.assertNotIn(k, node["pbs"])
        cfg = self.sim.ok("GET", "/storage", {"type": "pbs"})
        self.assertEqual([c["storage"] for c in cfg], ["pbs"])
        self.assertEqual((cfg[0]["server"], cfg[0]["datastore"]), ("pbs.example", "store1"))
        self.assertRegex(cfg[0]["fingerprint"], r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")
        self.assertNotIn("password", cfg[0])
        self.assertRegex(cfg[0]["digest"], r"^[0-9a-f]{40}$")
        self.sim.ctl("POST", "/_sim/acl", {"/": ["Sys.Audit"],
                                           "/storage/local": ["Datastore.Audit"]})
        self.assertEqual(self.sim.ok("GET", "/storage", {"type": "pbs"}), [])
        self.assertEqual([c["storage"] for c in self.sim.ok("GET", "/storage")], ["local"])

    # ---- §5.8 point 7: HA-managed guests -----------------------------------
    def test_ha_start_and_stop_end_before_the_guest_changes(self):
        """pve-container src/PVE/API2/LXC/Status.pm vm_start / vm_stop /
        vm_shutdown: an HA-managed CT gets a 'hastart'/'hastop' worker that
        only queues the request ('ha-manager set', 'crm-command stop'); the
        CT changes later; status/current carries ha.managed; pve-api.md 5.5
        and 5.8."""
        self.sim.ctl("POST", "/_sim/config", {"ha_delay": 1.0})
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 104, "ha": {"state": "stopped"}})
        cur = self.sim.ok("GET", self.N + "/lxc/104/status/current")
        self.assertEqual(cur["ha"], {"managed": 1, "state": "stopped"})
        up = self.sim.ok("POST", self.N + "/lxc/104/status/start")
        self.assertEqual(up.split(":")[5:7], ["hastart", "104"])
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        self.assertIn("Requesting HA start for CT 104", [x["t"] for x in self.sim.task_log(up)])
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/104/status/current")["status"],
                         "stopped")
        end = time.time() + 5
        while time.time() < end and self.world_guest(104)["status"] != "running":
            time.sleep(0.1)
        self.assertEqual(self.world_guest(104)["status"], "running")
        self.assertEqual(self.sim.ok("GET", self.N + "/lxc/104/status/current")["ha"]["state"],
                         "started")
        st, reason, obj = self.refused("POST", self.N + "/lxc/104/status/stop",
                                       {"overrule-shutdown": 1})
        self.assertEqual((st, obj["errors"]), (400, {"overrule-shutdown":
                                                     "Not applicable for HA resources."}))
        up = self.sim.ok("POST", self.N + "/lxc/104/status/shutdown")
        self.assertEqual(up.split(":")[5], "hastop")
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        # a resource the HA stack cannot move never gets there
        self.sim.ctl("POST", "/_sim/world/guest", {"vmid": 105, "ha": {"state": "stopped",
                                                                       "stuck": True}})
        up = self.sim.ok("POST", self.N + "/lxc/105/status/start")
        self.assertEqual(self.sim.wait(up)["exitstatus"], "OK")
        time.sleep(1.5)
        self.assertEqual(self.world_guest(105)["status"], "stopped")

    # ---- §3 point 8: config lock timeout ------------------------------------
    def test_config_lock_held_by_another_worker_times_out(self):
        """pve-common src/PVE/Tools.pm lock_file_full (10 s, run_with_timeout
        'got timeout') via pve-guest-common AbstractConfig.pm lock_config in
        pve-container API2/LXC/Config.pm update_vm; scaled down here;
        pve-api.md 3 and 5.7."""
        self.sim.ctl("POST", "/_sim/config", {"lock_timeout_scale": 0.03})   # 10 s -> 0.3 s
        self.sim.ctl("POST", "/_sim/config-lock", {"vmid": 101})
        t0 = time.time()
        st, reason, obj = self.refused("PUT", self.N + "/lxc/101/config", {"cores": 3})
        self.assertGreaterEqual(time.time() - t0, 0.28)
        self.assertEqual((st, reason), (500, "can't lock file "
                                        "'/run/lock/lxc/pve-config-101.lock' - got timeout"))
        self.assertEqual(obj["message"], reason + "\n")
        # the other worker is done within the timeout: the PUT goes through
        self.sim.ctl("POST", "/_sim/config-lock", {"vmid": 101, "seconds": 0.1})
        self.sim.ok("PUT", self.N + "/lxc/101/config", {"cores": 3})
        self.assertEqual(self.world_guest(101)["config"]["cores"], 3)
        # workers wait for it too: a start task fails with the same text
        self.sim.ctl("POST", "/_sim/config-lock", {"vmid": 104})
        up = self.sim.ok("POST", self.N + "/lxc/104/status/start")
        self.assertEqual(self.sim.wait(up)["exitstatus"], "can't lock file "
                         "'/run/lock/lxc/pve-config-104.lock' - got timeout")

    # ---- §5.8 point 9: a missing guest -------------------------------------
    def test_power_actions_on_a_missing_ct(self):
        """Status.pm vm_start checks only check_running, so a missing CT gets
        a UPID and the worker fails loading the config; vm_stop /
        vm_shutdown answer 500 "CT n not running"; pve-api.md 3 and 5.8."""
        up = self.sim.ok("POST", self.N + "/lxc/999/status/start")
        self.assertEqual(up.split(":")[5:7], ["vzstart", "999"])
        self.assertEqual(self.sim.wait(up)["exitstatus"], "Configuration file "
                         "'nodes/%s/lxc/999.conf' does not exist" % self.node)
        for action in ("stop", "shutdown"):
            st, reason, _ = self.refused("POST", self.N + "/lxc/999/status/" + action)
            self.assertEqual((st, reason), (500, "CT 999 not running"))

    # ---- §5.10 (the statements the sim implements, retention aside) --------
    def test_vzdump_permissions_and_answers(self):
        """pve-manager PVE/API2/VZDump.pm vzdump: Datastore.AllocateSpace on
        'storage' || 'local' (get_storage_param) synchronously; VM.Backup
        per guest only in the worker (PVE/VZDump.pm exec_backup); 'OK' for
        guests on other nodes; the UPID id is the vmid of a single guest;
        notes-template and protected require storage; pve-api.md 5.10."""
        self.sim.ctl("POST", "/_sim/acl", {"/": ["*"], "/storage/local": ["Datastore.Audit"]})
        st, reason, _ = self.refused("POST", self.N + "/vzdump", {"vmid": 104})
        self.assertEqual((st, reason), (403, "Permission check failed (/storage/local, "
                                        "Datastore.AllocateSpace)"))
        self.sim.ctl("POST", "/_sim/acl", {"/": ["*"], "/vms/104": ["VM.Audit"]})
        up = self.sim.ok("POST", self.N + "/vzdump", {"vmid": 104, "storage": "pbs"})
        self.assertEqual(up.split(":")[5:7], ["vzdump", "104"])
        self.assertEqual(self.sim.wait(up)["exitstatus"],
                         "Permission check failed (/vms/104, VM.Backup)")
        st, _, obj = self.refused("POST", self.N + "/vzdump", {"vmid": 104, "protected": 1})
        self.assertEqual((st, obj["errors"]), (400, {"storage":
                                                     "missing property required by 'protected'"}))


if __name__ == "__main__":
    unittest.main()
