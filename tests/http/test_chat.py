"""Chat threads: create, list (paginated), get, rename, delete, ownership."""
import time

from base import ServerTest


class ChatThreadsTest(ServerTest):
    def test_crud(self):
        _, _, auth = self.new_user()
        r = self.req("POST", "/chat/threads", {"title": "Trip", "system_prompt": "Be brief."}, auth)
        self.assertEqual(r.status, 201, r)
        t = r.json()
        self.assertEqual(t["title"], "Trip")
        self.assertEqual(t["system_prompt"], "Be brief.")
        d = self.req("POST", "/chat/threads", {}, auth).json()
        self.assertEqual(d["title"], "New chat")
        self.assertIsNone(d["system_prompt"])
        lst = self.req("GET", "/chat/threads", headers=auth).json()["items"]
        self.assertEqual(sorted(x["id"] for x in lst), sorted([t["id"], d["id"]]))
        g = self.req("GET", "/chat/threads/%d" % t["id"], headers=auth)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json()["messages"], [])
        p = self.req("PATCH", "/chat/threads/%d" % t["id"], {"title": "Holiday"}, auth)
        self.assertEqual(p.status, 200, p)
        self.assertEqual(p.json()["title"], "Holiday")
        self.assertEqual(self.req("GET", "/chat/threads/%d" % t["id"], headers=auth).json()["title"], "Holiday")
        self.assertEqual(self.req("DELETE", "/chat/threads/%d" % t["id"], headers=auth).status, 204)
        self.assertError(self.req("GET", "/chat/threads/%d" % t["id"], headers=auth), 404, "not_found")
        self.assertEqual([x["id"] for x in self.req("GET", "/chat/threads", headers=auth).json()["items"]], [d["id"]])

    def test_validation(self):
        _, _, auth = self.new_user()
        self.assertError(self.req("POST", "/chat/threads", {"title": 5}, auth), 422, field="title")
        self.assertError(self.req("POST", "/chat/threads", {"title": "x" * 201}, auth), 422, field="title")
        self.assertError(self.req("POST", "/chat/threads", {"system_prompt": ""}, auth), 422, field="system_prompt")
        t = self.req("POST", "/chat/threads", {}, auth).json()
        self.assertError(self.req("PATCH", "/chat/threads/%d" % t["id"], {}, auth), 422, field="title")
        self.assertError(self.req("GET", "/chat/threads/abc", headers=auth), 404)
        self.assertError(self.req("GET", "/chat/threads/0", headers=auth), 404)
        self.assertError(self.req("GET", "/chat/threads/99999999999999999999", headers=auth), 404)

    def test_cross_user(self):
        _, _, a = self.new_user()
        _, _, b = self.new_user()
        t = self.req("POST", "/chat/threads", {"title": "secret"}, a).json()
        for method, body in (("GET", None), ("PATCH", {"title": "x"}), ("DELETE", None)):
            self.assertError(self.req(method, "/chat/threads/%d" % t["id"], body, b), 404, "not_found")
        self.assertEqual(self.req("GET", "/chat/threads", headers=b).json()["items"], [])
        self.assertEqual(self.req("GET", "/chat/threads/%d" % t["id"], headers=a).json()["title"], "secret")

    def test_pagination(self):
        _, _, auth = self.new_user()
        ids = [self.req("POST", "/chat/threads", {"title": "t%d" % i}, auth).json()["id"] for i in range(7)]
        # renaming bumps updated_at (whole seconds): the renamed thread comes first
        time.sleep(1.1)
        self.assertEqual(self.req("PATCH", "/chat/threads/%d" % ids[2], {"title": "new"}, auth).status, 200)
        first = self.req("GET", "/chat/threads", headers=auth).json()
        self.assertIsNone(first["next_cursor"])
        order = [x["id"] for x in first["items"]]
        self.assertEqual(sorted(order), sorted(ids))
        self.assertEqual(order[0], ids[2])
        seen, cursor, pages = [], None, 0
        while True:
            path = "/chat/threads?limit=3" + ("&cursor=" + cursor if cursor else "")
            r = self.req("GET", path, headers=auth)
            self.assertEqual(r.status, 200, r)
            page = r.json()
            self.assertLessEqual(len(page["items"]), 3)
            seen += [x["id"] for x in page["items"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
        self.assertEqual(pages, 3)
        self.assertEqual(seen, order)
        for bad in ("limit=0", "limit=101", "limit=x"):
            self.assertError(self.req("GET", "/chat/threads?" + bad, headers=auth), 422, "validation_error", "limit")
        hist = self.req("GET", "/history?limit=1", headers=auth).json()
        self.assertEqual(hist["next_cursor"], None)
        for bad in ("abc", "Z2Fyb2dl", "dDE6MQ"):  # garbage, "garbage", "t1:1" (one key)
            self.assertError(self.req("GET", "/chat/threads?cursor=" + bad, headers=auth), 422, "validation_error", "cursor")
