"""Simulated customers acting in the simulated WeCom, each act sent to Siyu as WeCom sends it:
an encrypted, signed XML callback POSTed to the corp's callback URL."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from siyu.simulators.wecom.world import Customer, Follow, World
from siyu.wecom.connection.crypto import CallbackCrypto


def event_xml(fields: dict[str, Any]) -> bytes:
    parts = []
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            text = str(value).replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{key}><![CDATA[{text}]]></{key}>")
    return ("<xml>" + "".join(parts) + "</xml>").encode()


@dataclass
class Driver:
    world: World
    callback_url: str  # Siyu's /wecom/callback/{corp_id}
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=10))
    sent: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    _turn: dict[str, int] = field(default_factory=dict)

    @property
    def crypto(self) -> CallbackCrypto:
        w = self.world
        return CallbackCrypto(w.token, w.aes_key, w.corp_id)

    def envelope(
        self, fields: dict[str, Any], timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and query string WeCom would send for ``fields``."""
        ts, nonce = str(timestamp or int(time.time())), secrets.token_hex(8)
        body, sig = self.crypto.seal(event_xml(fields), ts, nonce)
        return body, {"msg_signature": sig, "timestamp": ts, "nonce": nonce}

    def post(self, fields: dict[str, Any]) -> httpx.Response:
        body, query = self.envelope(fields)
        resp = self.http.post(
            self.callback_url, params=query, content=body, headers={"Content-Type": "text/xml"}
        )
        self.sent.append((fields, resp.status_code))
        return resp

    def _event(self, event: str, change: str | None = None, **more: Any) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ToUserName": self.world.corp_id,
            "FromUserName": "sys",
            "CreateTime": int(self.world.clock()),
            "MsgType": "event",
            "Event": event,
        }
        if change:
            fields["ChangeType"] = change
        fields.update({k: v for k, v in more.items() if v is not None})
        return fields

    # -- customers' acts ----------------------------------------------------------------------
    def add(
        self,
        userid: str,
        customer: Customer | None = None,
        *,
        state: str = "",
        welcome: bool = True,
        add_way: int = 1,
    ) -> tuple[Customer, Follow | None, httpx.Response | None]:
        """The customer adds staff ``userid`` (scanning their code); None follow at the cap."""
        with self.world.lock:
            customer = customer or self.world.new_customer(f"顾客{secrets.randbelow(100000):05d}")
            follow = self.world.befriend(userid, customer, state=state, add_way=add_way)
            code = (
                self.world.issue_welcome_code(userid, customer.external_userid)
                if follow and welcome
                else None
            )
        if follow is None:
            return customer, None, None
        resp = self.post(
            self._event(
                "change_external_contact",
                "add_external_contact",
                UserID=userid,
                ExternalUserID=customer.external_userid,
                State=state or None,
                WelcomeCode=code,
            )
        )
        return customer, follow, resp

    def scan(
        self, config_id: str, customer: Customer | None = None
    ) -> tuple[Customer, Follow | None, httpx.Response | None]:
        """The customer scans a contact way's QR code: WeCom hands them to one of its members
        (in turn), with the contact way's state."""
        way = self.world.contact_ways[config_id]
        turn = self._turn.get(config_id, 0)
        self._turn[config_id] = turn + 1
        return self.add(way.users[turn % len(way.users)], customer, state=way.state, add_way=1)

    def customer_deletes(self, userid: str, external_userid: str) -> httpx.Response:
        with self.world.lock:
            self.world.follows.pop((userid, external_userid), None)
        return self.post(
            self._event(
                "change_external_contact",
                "del_follow_user",
                UserID=userid,
                ExternalUserID=external_userid,
            )
        )

    def staff_deletes(self, userid: str, external_userid: str) -> httpx.Response:
        with self.world.lock:
            self.world.follows.pop((userid, external_userid), None)
        return self.post(
            self._event(
                "change_external_contact",
                "del_external_contact",
                UserID=userid,
                ExternalUserID=external_userid,
            )
        )

    def edit(
        self,
        userid: str,
        external_userid: str,
        *,
        remark: str | None = None,
        mobiles: list[str] | None = None,
    ) -> httpx.Response:
        with self.world.lock:
            follow = self.world.follows[(userid, external_userid)]
            if remark is not None:
                follow.remark = remark
            if mobiles is not None:
                follow.remark_mobiles = mobiles
        return self._edited(userid, external_userid)

    def _edited(self, userid: str, external_userid: str) -> httpx.Response:
        return self.post(
            self._event(
                "change_external_contact",
                "edit_external_contact",
                UserID=userid,
                ExternalUserID=external_userid,
            )
        )

    def create_group(self, owner: str, name: str, members: list[Customer]) -> httpx.Response:
        from siyu.simulators.wecom.world import Group, _rand

        with self.world.lock:
            now = int(self.world.clock())
            group = Group("wr" + _rand(30), name, owner, now)
            group.members[owner] = {"userid": owner, "type": 1, "join_time": now, "join_scene": 1}
            for c in members:
                group.members[c.external_userid] = {
                    "userid": c.external_userid,
                    "type": 2,
                    "join_time": now,
                    "join_scene": 3,
                    **({"unionid": c.unionid} if c.unionid else {}),
                }
            self.world.groups[group.chat_id] = group
        return self.post(self._event("change_external_chat", "create", ChatId=group.chat_id))

    def kf_write(self, open_kfid: str, customer: Customer, text: str) -> httpx.Response:
        """The customer writes to a WeChat Customer Service account; WeCom tells Siyu only
        that there is something to read (kf_msg_or_event with a sync token)."""
        with self.world.lock:
            token = self.world.customer_writes_kf(open_kfid, customer.external_userid, text)
        return self.post(self._event("kf_msg_or_event", Token=token, OpenKfId=open_kfid))

    def app_text(self, userid: str, text: str) -> httpx.Response:
        """A member writes a text message to the self-built app."""
        return self.post(
            {
                "ToUserName": self.world.corp_id,
                "FromUserName": userid,
                "CreateTime": int(self.world.clock()),
                "MsgType": "text",
                "Content": text,
                "MsgId": str(secrets.randbits(63)),
                "AgentID": int(self.world.agent_id),
            }
        )

    def customer_refuses_transfer(self, external_userid: str) -> httpx.Response:
        """The customer refuses to be handed to the new guide (WeCom's transfer_fail)."""
        with self.world.lock:
            transfer = self.world.pending_transfer(external_userid)
            assert transfer is not None, "no transfer is waiting for this customer"
            transfer.status = 3
        return self.post(
            self._event(
                "change_external_contact",
                "transfer_fail",
                FailReason="customer_refused",
                UserID=transfer.takeover,
                ExternalUserID=external_userid,
            )
        )

    def corp_tag(self, group_name: str, name: str) -> str:
        """An admin adds a corp tag in WeCom; WeCom tells Siyu (change_external_tag)."""
        from siyu.simulators.wecom.server import add_corp_tag

        with self.world.lock:
            group = add_corp_tag(
                self.world, {}, {"group_name": group_name, "tag": [{"name": name}]}
            )
        tag_id = next(t["id"] for t in group["tag_group"]["tag"] if t["name"] == name)
        self.post(self._event("change_external_tag", "create", Id=tag_id, TagType="tag"))
        return str(tag_id)

    def delete_corp_tag(self, tag_id: str) -> httpx.Response:
        with self.world.lock:
            for group in self.world.tag_groups.values():
                group["tag"] = [t for t in group["tag"] if t["id"] != tag_id]
            for follow in self.world.follows.values():
                follow.tag_ids = [t for t in follow.tag_ids if t != tag_id]
        return self.post(self._event("change_external_tag", "delete", Id=tag_id, TagType="tag"))

    def guide_tags(
        self,
        userid: str,
        external_userid: str,
        add: tuple[str, ...] = (),
        remove: tuple[str, ...] = (),
    ) -> httpx.Response:
        """A guide changes a customer's corp tags in WeCom (by tag id)."""
        with self.world.lock:
            follow = self.world.follows[(userid, external_userid)]
            follow.tag_ids = [t for t in follow.tag_ids if t not in remove]
            follow.tag_ids += [t for t in add if t not in follow.tag_ids]
        return self._edited(userid, external_userid)

    def join_by_code(self, config_id: str, customer: Customer) -> str | None:
        """The customer scans a group live code and joins its first group with room; WeCom
        tells Siyu the group changed. None when every group of the code is full."""
        from siyu.simulators.wecom.joinways import join

        with self.world.lock:
            chat_id = join(self.world, config_id, customer.external_userid, customer.unionid)
        if chat_id is None:
            return None
        self.post(
            self._event(
                "change_external_chat",
                "update",
                ChatId=chat_id,
                UpdateDetail="add_member",
                JoinScene=3,
                MemChangeCnt=1,
            )
        )
        return chat_id

    def staff_sends_mass_message(self, msgid: str) -> dict[str, int]:
        """The member confirms a corp mass message in WeCom; returns each customer's result."""
        from siyu.simulators.wecom.mass import confirm

        with self.world.lock:
            return dict(confirm(self.world, msgid).results)
