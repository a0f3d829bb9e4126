"""A loopback fake of Slack for scenario tests: the Web API (``FakeSlack``), request signing (``sign``) and
the bodies Slack POSTs to our app (``payloads``)."""

from tests.slack_fake import payloads
from tests.slack_fake.server import Call, FakeSlack
from tests.slack_fake.signing import sign

__all__ = ["Call", "FakeSlack", "payloads", "sign"]
