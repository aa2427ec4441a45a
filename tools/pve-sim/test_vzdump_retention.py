"""pve-sim: vzdump's retention as pve-manager PVE/VZDump.pm and pve-storage
do it (the 'remove' default, the prune options, the max backup limit with
remove=0, protected backups and max-protected-backups), and the record of
mutating requests (GET /_sim/requests).

Run from the repository root:
    python3 -m unittest discover -s tools/pve-sim -p 'test_*.py'
"""

import time
import unittest

from test_pve_sim import Sim

LIMIT_MSG = ("There is a max backup limit of %d enforced by the target storage or the "
             "vzdump parameters. Either increase the limit or delete old backups.")
ALL = {"/": ["Administrator"]}


class VzdumpRetentionTest(unittest.TestCase):
    sim = None

    @classmethod
    def setUpClass(cls):
        cls.sim = Sim("--task-seconds", "0.05")
        cls.N = "/nodes/" + cls.sim.info["node"]

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()

    def setUp(self):
        self.sim.ctl("POST", "/_sim/reset", {"world": True})
        self.sim.ctl("POST", "/_sim/acl", ALL)

    def tearDown(self):
        self.sim.ctl("POST", "/_sim/acl", ALL)

    # -- helpers
    def storage(self, **kw):
        body = {"storage": "local"}
        body.update({k.replace("_", "-"): v for k, v in kw.items()})
        st, res = self.sim.ctl("POST", "/_sim/world/storage", body)
        self.assertEqual(st, 200, res)

    def old_backup(self, vmid, day, protected=0):
        """A backup of vmid on local, taken at 00:00 on 2025-01-<day>."""
        ctime = int(time.mktime((2025, 1, day, 0, 0, 0, 0, 0, -1)))
        volid = "local:backup/vzdump-lxc-%d-2025_01_%02d-00_00_00.tar.zst" % (vmid, day)
        st, res = self.sim.ctl("POST", "/_sim/world/volume", {
            "volid": volid, "content": "backup", "vmid": vmid, "ctime": ctime,
            "size": 1000, "protected": protected})
        self.assertEqual(st, 200, res)
        return volid

    def backups(self, vmid):
        vols = self.sim.ok("GET", self.N + "/storage/local/content",
                           {"content": "backup", "vmid": vmid})
        return sorted(v["volid"] for v in vols)

    def vzdump(self, vmid, **extra):
        params = {"vmid": vmid, "storage": "local", "mode": "snapshot"}
        params.update({k.replace("_", "-"): v for k, v in extra.items()})
        upid = self.sim.ok("POST", self.N + "/vzdump", params)
        st = self.sim.wait(upid)
        return st["exitstatus"], [x["t"] for x in self.sim.task_log(upid)]

    # -- pve-guest-common VZDump/Common.pm: remove defaults to 1
    def test_default_remove_prunes_by_the_storage_retention(self):
        self.storage(prune_backups="keep-last=2")
        olds = [self.old_backup(104, d) for d in (1, 2, 3)]
        status, log = self.vzdump(104)
        self.assertEqual(status, "OK", log)
        self.assertIn("INFO: prune older backups with retention: keep-last=2", log)
        for v in olds[:2]:
            self.assertIn("INFO: removing backup '%s'" % v, log)
        left = self.backups(104)
        self.assertEqual(len(left), 2)
        self.assertIn(olds[2], left)
        self.assertTrue(all(v in left or v in olds for v in left))

    # -- PVE/VZDump.pm exec_backup_task: the max backup limit with remove=0
    def test_remove_0_at_the_limit_refuses_and_deletes_nothing(self):
        self.storage(prune_backups="keep-last=2")
        olds = [self.old_backup(104, d) for d in (1, 2)]
        status, log = self.vzdump(104, remove=0)
        self.assertEqual(status, "job errors")
        self.assertIn("ERROR: Backup of VM 104 failed - " + LIMIT_MSG % 2, log)
        self.assertNotIn("INFO: Starting Backup of VM 104 (lxc)", log)
        self.assertEqual(self.backups(104), sorted(olds))
        self.assertNotIn("lock", self.sim.ok("GET", self.N + "/lxc/104/config"))

    def test_remove_0_below_the_limit_keeps_every_backup(self):
        self.storage(prune_backups="keep-last=3")
        olds = [self.old_backup(104, d) for d in (1, 2)]
        status, log = self.vzdump(104, remove=0)
        self.assertEqual(status, "OK", log)
        self.assertFalse(any("prune" in x for x in log), log)
        left = self.backups(104)
        self.assertEqual(len(left), 3)
        self.assertTrue(set(olds) <= set(left))

    def test_the_limit_is_the_sum_of_the_keep_options(self):
        self.storage(prune_backups="keep-last=1,keep-daily=1")
        for d in (1, 2):
            self.old_backup(104, d)
        status, log = self.vzdump(104, remove=0)
        self.assertEqual(status, "job errors")
        self.assertIn("ERROR: Backup of VM 104 failed - " + LIMIT_MSG % 2, log)

    def test_keep_all_has_no_limit_and_never_prunes(self):
        self.storage(prune_backups="keep-all=1")
        olds = [self.old_backup(104, d) for d in (1, 2, 3)]
        status, log = self.vzdump(104)
        self.assertEqual(status, "OK", log)
        self.assertFalse(any("prune" in x for x in log), log)
        self.assertTrue(set(olds) <= set(self.backups(104)))
        # a storage without prune-backups: vzdump's default keep-all=1
        self.storage(prune_backups=None)
        status, log = self.vzdump(104)
        self.assertEqual(status, "OK", log)
        self.assertEqual(len(self.backups(104)), 5)

    def test_other_guests_backups_do_not_count(self):
        self.storage(prune_backups="keep-last=1")
        self.old_backup(102, 1)
        status, log = self.vzdump(104, remove=0)
        self.assertEqual(status, "OK", log)

    def test_the_prune_backups_parameter_overrides_the_storage(self):
        self.storage(prune_backups="keep-last=5")
        self.old_backup(104, 1)
        status, log = self.vzdump(104, remove=0, prune_backups="keep-last=1")
        self.assertEqual(status, "job errors")
        self.assertIn("ERROR: Backup of VM 104 failed - " + LIMIT_MSG % 1, log)
        # it needs Datastore.Allocate on the storage (API2/VZDump.pm)
        self.sim.ctl("POST", "/_sim/acl", {"/": ["VM.Audit", "VM.Backup", "Datastore.Audit",
                                                 "Datastore.AllocateSpace"]})
        st, _, obj, _ = self.sim.api("POST", self.N + "/vzdump", {
            "vmid": 104, "storage": "local", "prune-backups": "keep-last=1"})
        self.assertEqual(st, 403, obj)

    # -- protected backups: not pruned, not held to the limit, only to
    #    max-protected-backups (pve-storage get_max_protected_backups)
    def test_protected_is_not_held_to_the_backup_limit(self):
        self.storage(prune_backups="keep-last=2")
        olds = [self.old_backup(104, d) for d in (1, 2)]
        status, log = self.vzdump(104, remove=0, protected=1)
        self.assertEqual(status, "OK", log)
        self.assertIn("INFO: marking backup as protected", log)
        left = self.backups(104)
        self.assertEqual(len(left), 3)
        self.assertTrue(set(olds) <= set(left))

    def test_protected_backups_do_not_count_towards_the_limit(self):
        self.storage(prune_backups="keep-last=2")
        self.old_backup(104, 1, protected=1)
        self.old_backup(104, 2, protected=1)
        self.old_backup(104, 3)
        status, log = self.vzdump(104, remove=0)
        self.assertEqual(status, "OK", log)

    def test_pruning_never_removes_a_protected_backup(self):
        self.storage(prune_backups="keep-last=1")
        prot = self.old_backup(104, 1, protected=1)
        plain = self.old_backup(104, 2)
        status, log = self.vzdump(104)
        self.assertEqual(status, "OK", log)
        left = self.backups(104)
        self.assertIn(prot, left)
        self.assertNotIn(plain, left)
        self.assertEqual(len(left), 2)

    def test_max_protected_backups(self):
        # configured on the storage
        self.storage(max_protected_backups=1)
        self.old_backup(104, 1, protected=1)
        status, log = self.vzdump(104, protected=1)
        self.assertEqual(status, "job errors")
        self.assertIn("ERROR: Backup of VM 104 failed - The number of protected backups per "
                      "guest is limited to 1 on storage 'local'", log)
        # not configured: unlimited with Datastore.Allocate on the storage ...
        self.storage(max_protected_backups=None)
        for d in (2, 3, 4, 5):
            self.old_backup(104, d, protected=1)
        status, log = self.vzdump(104, protected=1)
        self.assertEqual(status, "OK", log)
        # ... else 5
        self.sim.ctl("POST", "/_sim/acl", {"/": ["VM.Audit", "VM.Backup", "Datastore.Audit",
                                                 "Datastore.AllocateSpace"]})
        status, log = self.vzdump(104, protected=1)
        self.assertEqual(status, "job errors")
        self.assertIn("ERROR: Backup of VM 104 failed - The number of protected backups per "
                      "guest is limited to 5 on storage 'local'", log)

    # -- pve-storage prune_mark_backup_group: periods
    def test_keep_daily_keeps_the_newest_of_each_day(self):
        self.storage(prune_backups="keep-daily=2")
        ctime = int(time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1)))
        early = self.old_backup(104, 1)
        late = "local:backup/vzdump-lxc-104-2025_01_01-12_00_00.tar.zst"
        self.sim.ctl("POST", "/_sim/world/volume", {
            "volid": late, "content": "backup", "vmid": 104, "ctime": ctime + 12 * 3600,
            "size": 1000})
        day2 = self.old_backup(104, 2)
        status, log = self.vzdump(104)
        self.assertEqual(status, "OK", log)
        left = self.backups(104)
        # today's new backup and the newest of the day before it survive
        self.assertNotIn(early, left)
        self.assertNotIn(late, left)
        self.assertIn(day2, left)
        self.assertEqual(len(left), 2)

    # -- the record of mutating requests
    def test_requests_record_the_parameters_as_received(self):
        self.sim.ok("PUT", self.N + "/lxc/104/config", {"description": "a&b", "delete": "tags"})
        self.vzdump(104, remove=0)
        reqs = self.sim.ctl("GET", "/_sim/requests?vmid=104")[1]
        self.assertEqual([r["keys"] for r in reqs], [["104:config"], ["104:vzdump"]])
        self.assertEqual(reqs[0]["method"], "PUT")
        self.assertEqual(reqs[0]["path"], self.N + "/lxc/104/config")
        self.assertEqual(reqs[0]["params"], {"description": "a&b", "delete": "tags"})
        self.assertEqual(reqs[0]["status"], 200)
        self.assertEqual(reqs[1]["params"]["remove"], "0")
        self.assertEqual(self.sim.ctl("GET", "/_sim/requests?vmid=101")[1], [])
        self.sim.ctl("POST", "/_sim/reset", {})
        self.assertEqual(self.sim.ctl("GET", "/_sim/requests")[1], [])


if __name__ == "__main__":
    unittest.main()
