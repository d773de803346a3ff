"""Labels: deterministic offline keywords, and the LLM client against local fake servers."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from replay_assets.labels import ClusterText, KeywordLabeler, LLMLabeler

CLUSTERS = [
    ClusterText(0, ["User clicked the checkout submit button repeatedly but payment failed with an error",
                    "Checkout payment failed after submit, error banner shown",
                    "Payment error on checkout submit"], 3, 3),
    ClusterText(1, ["User searched the help center for export settings and could not find them",
                    "Looked for export settings in the help center, struggled"], 2, 2),
]


def test_keyword_labels_are_deterministic_and_distinguishing():
    a, b = KeywordLabeler().label(CLUSTERS), KeywordLabeler().label(CLUSTERS)
    assert a == b
    assert a[0].title.startswith("Fix") and any(k in a[0].title for k in ("checkout", "payment", "error"))
    assert a[1].title.startswith("Improve") and "export" in " ".join(a[1].keywords)
    assert not set(a[0].keywords) & set(a[1].keywords)
    assert "3 segments from 3 users" in a[0].description


class _Fake(BaseHTTPRequestHandler):
    mode = "ok"
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("Authorization"), body))
        if self.mode == "slow":
            time.sleep(2)
        if self.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        content = "not json at all" if self.mode == "garbage" else json.dumps(
            {"title": "Fix failing checkout payments", "description": "Payments fail after submit."})
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Fake.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_llm_labels_with_the_schema_and_the_key(fake_llm):
    _Fake.mode = "ok"
    labels = LLMLabeler(fake_llm, "sk-test").label(CLUSTERS[:1])
    assert labels[0] == labels[0].__class__("Fix failing checkout payments", "Payments fail after submit.", labels[0].keywords, "llm")
    auth, body = _Fake.seen[0]
    assert auth == "Bearer sk-test" and body["response_format"]["json_schema"]["name"] == "task_label"
    assert "Payment error on checkout submit" in body["messages"][0]["content"]


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_llm_failures_fall_back_to_keywords(fake_llm, mode):
    _Fake.mode = mode
    labels = LLMLabeler(fake_llm, None, timeout_s=0.5).label(CLUSTERS)
    assert {label.source for label in labels.values()} == {"keywords"}
    assert labels == KeywordLabeler().label(CLUSTERS)
