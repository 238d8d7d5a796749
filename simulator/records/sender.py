"""Posting statements to the LRS: batches, retries (tenacity), and what each answer means.

- 200 or 204: the LRS has them (stored now, or had them: the ids are derived from the session,
  so a statement sent twice is the same statement and is stored once);
- 409 for one statement: the LRS has a statement with that id: marked sent;
- a 4xx for a batch (400, 413, 409…): the batch is split until the statement the LRS refuses is
  found; that one is set aside with the LRS's answer and the rest are sent;
- a 5xx: tried again (3 times, with backoff, honouring ``Retry-After``), then split as above; a
  single statement the LRS fails on while it takes others is set aside; when it takes none the
  sending stops and everything waits;
- 401/403: stops, naming the user name's line and the password's variable;
- the LRS cannot be reached: stops, everything waits in the outbox.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..core.errors import RoleplayError

if TYPE_CHECKING:
    import httpx

    from ..models.config import LrsSettings
    from .outbox import Outbox, OutboxState, Waiting

BATCH = 100  # statements per POST
ATTEMPTS = 3  # tries of one POST on a connection failure or a 5xx
MAX_RETRY_AFTER_S = 30.0
HEADERS = {"X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"}


class LrsError(RoleplayError):
    """Sending stopped: one line that names the cause and what to do. Nothing is lost."""


@dataclass
class Answer:
    status: int
    text: str

    @property
    def reason(self) -> str:
        """The LRS's own words, short: its JSON ``detail``/``message``/``error`` or the body's start."""
        text = self.text.strip()
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for k in ("detail", "message", "error", "errors"):
                if data.get(k):
                    text = data[k] if isinstance(data[k], str) else json.dumps(data[k], ensure_ascii=False)
                    break
        text = " ".join(text.split())
        return f"{self.status}: {text[:300]}" if text else str(self.status)


@dataclass
class SendReport:
    sent: int = 0  # statements the LRS has now
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (statement id, reason)
    total: int = 0  # statements that were waiting


def password_problem(lrs: "LrsSettings") -> str | None:
    """Why the password cannot be had (None when it can): named by the variable, never shown."""
    if not lrs.username:
        return f"lrs.username is not set ({lrs.where('endpoint')}): add the user name the LRS gave this desk"
    if not lrs.password_env:
        return (f"lrs.password_env is not set ({lrs.where('username')}): add the NAME of the variable holding "
                "the password, e.g. password_env: ROLEPLAY_LRS_PASSWORD")
    if not lrs.password():
        return (f"${lrs.password_env} is not set (lrs.password_env, {lrs.where('password_env')}): export "
                f"{lrs.password_env}=… with the LRS password, then run it again")
    return None


def _mend_login(lrs: "LrsSettings") -> str:
    return (f"check the password in ${lrs.password_env} (lrs.password_env, {lrs.where('password_env')}) and the "
            f"user name (lrs.username, {lrs.where('username')})")


class Sender:
    def __init__(self, lrs: "LrsSettings", *, client: "httpx.Client | None" = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        import httpx

        if problem := password_problem(lrs):
            raise LrsError(problem)
        self.lrs = lrs
        self.url = lrs.endpoint.rstrip("/") + "/statements"
        self.sleep = sleep
        self.client = client or httpx.Client(auth=(lrs.username or "", lrs.password() or ""), headers=HEADERS,
                                             timeout=lrs.timeout)
        self.accepted = 0  # statements taken in this run: a 5xx on one statement is then the statement's fault

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Sender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one POST -------------------------------------------------------------------------------
    def _unreachable(self, exc: Exception) -> LrsError:
        return LrsError(f"cannot reach the LRS at {self.lrs.endpoint} ({type(exc).__name__}: {exc}) — the results "
                        "wait in the outbox; `roleplay sync` sends them when it answers")

    def _refused(self, answer: Answer) -> LrsError:
        return LrsError(f"the LRS refused user '{self.lrs.username}' ({answer.reason}) — {_mend_login(self.lrs)}; "
                        "the results wait in the outbox")

    def post(self, statements: list[dict[str, Any]], *, retry_5xx: bool = True) -> Answer:
        import httpx
        from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

        class _Again(Exception):
            def __init__(self, answer: Answer | None, wait: float) -> None:
                self.answer, self.wait = answer, wait

        def wait(state) -> float:
            exc = state.outcome.exception()
            asked = exc.wait if isinstance(exc, _Again) else 0.0
            return asked or min(4.0, 0.5 * 2 ** (state.attempt_number - 1))

        body = json.dumps(statements, ensure_ascii=False).encode("utf-8")
        retrying = Retrying(stop=stop_after_attempt(ATTEMPTS), wait=wait, sleep=self.sleep,
                            retry=retry_if_exception_type((_Again, httpx.TransportError)), reraise=False)
        try:
            for attempt in retrying:
                with attempt:
                    response = self.client.post(self.url, content=body)
                    answer = Answer(response.status_code, response.text)
                    if answer.status in (429, 503) or (answer.status >= 500 and retry_5xx):
                        after = response.headers.get("Retry-After", "")
                        asked = float(after) if after.replace(".", "", 1).isdigit() else 0.0
                        raise _Again(answer, min(asked, MAX_RETRY_AFTER_S))
                    return answer
        except RetryError as exc:
            last = exc.last_attempt.exception()
            if isinstance(last, _Again) and last.answer is not None:
                return last.answer
            raise self._unreachable(last if isinstance(last, Exception) else exc) from None
        raise AssertionError("unreachable")  # pragma: no cover

    # -- the outbox ------------------------------------------------------------------------------
    def send(self, outbox: "Outbox", state: "OutboxState",
             on_progress: Callable[[int, int], None] | None = None) -> SendReport:
        """Send what waits, in batches, marking each batch as the LRS answers. Raises
        :class:`LrsError` when sending must stop (what is left waits)."""
        from .statements import problems

        report = SendReport(total=len(state.waiting))
        for item in list(state.waiting.values()):
            found = problems(item.statement)
            if found:  # never sent: the LRS would refuse it (or fail on it)
                reason = "not sent, it breaks xAPI: " + "; ".join(found)
                outbox.reject(item, reason, state)
                report.rejected.append((item.id, reason))
        items = list(state.waiting.values())

        def progress() -> None:
            if on_progress:
                on_progress(report.sent + len(report.rejected), report.total)

        progress()
        for start in range(0, len(items), BATCH):
            self._send(items[start:start + BATCH], outbox, state, report, progress, top=True)
        return report

    def _send(self, batch: list["Waiting"], outbox: "Outbox", state: "OutboxState", report: SendReport,
              progress: Callable[[], None], *, top: bool) -> None:
        answer = self.post([item.statement for item in batch], retry_5xx=top)
        if answer.status in (200, 204) or (answer.status == 409 and len(batch) == 1):
            outbox.mark_sent([item.id for item in batch], state)
            report.sent += len(batch)
            self.accepted += len(batch)
            progress()
            return
        if answer.status in (401, 403):
            raise self._refused(answer)
        if answer.status == 404:
            raise LrsError(f"the LRS has no statements resource at {self.url} ({answer.reason}) — check lrs.endpoint "
                           f"({self.lrs.where('endpoint')}): it is the xAPI address, e.g. https://lrs.example.com/xAPI/")
        if len(batch) > 1 and (answer.status >= 400):
            half = len(batch) // 2
            self._send(batch[:half], outbox, state, report, progress, top=False)
            self._send(batch[half:], outbox, state, report, progress, top=False)
            return
        if answer.status >= 500 and not self.accepted:
            raise LrsError(f"the LRS at {self.lrs.endpoint} fails ({answer.reason}) — the results wait in the "
                           "outbox; `roleplay sync` tries again")
        if answer.status >= 400:
            reason = f"the LRS refused it ({answer.reason})"
            outbox.reject(batch[0], reason, state)
            report.rejected.append((batch[0].id, reason))
            progress()
            return
        raise LrsError(f"the LRS answered {answer.reason} to a POST of statements — not an xAPI answer; check "
                       f"lrs.endpoint ({self.lrs.where('endpoint')})")


@dataclass
class Finding:
    """One line of ``roleplay lrs check``. ``offline``: the LRS could not be reached (on a desk
    without network that is expected: the results wait in the outbox)."""

    ok: bool
    text: str
    offline: bool = False


def check(lrs: "LrsSettings", *, client: "httpx.Client | None" = None) -> list[Finding]:
    """One GET of ``about`` (no auth) and one authenticated GET of ``statements``: what each said."""
    import httpx

    results: list[Finding] = []
    base = lrs.endpoint.rstrip("/")
    own = client is None
    client = client or httpx.Client(headers=HEADERS, timeout=lrs.timeout)
    try:
        try:
            about = client.get(base + "/about")
        except httpx.TransportError as exc:
            return [Finding(False, f"cannot reach {lrs.endpoint} ({type(exc).__name__}: {exc}) — is the LRS running, "
                                   f"and is lrs.endpoint right ({lrs.where('endpoint')})?", offline=True)]
        if about.status_code == 200:
            try:
                versions = ", ".join(about.json().get("version", [])) or "?"
            except ValueError:
                versions = "?"
            results.append(Finding(True, f"{base}/about answers: xAPI {versions}"))
        elif about.status_code == 404:  # xAPI asks for it, some LRSs (Ralph) have none: the GET below decides
            results.append(Finding(True, f"{lrs.site} answers (it has no {base}/about: the xAPI version is not said)"))
        else:
            results.append(Finding(False, f"{base}/about answered {Answer(about.status_code, about.text).reason} — is "
                                   f"lrs.endpoint the xAPI address ({lrs.where('endpoint')})?"))
        if problem := password_problem(lrs):
            results.append(Finding(False, problem))
            return results
        got = client.get(base + "/statements", params={"limit": 1},
                         auth=(lrs.username or "", lrs.password() or ""))
        if got.status_code == 404:
            results.append(Finding(False, f"no statements resource at {base}/statements (404) — lrs.endpoint "
                                          f"({lrs.where('endpoint')}) is the xAPI address, e.g. "
                                          "https://lrs.example.com/xAPI/"))
        elif got.status_code == 200:
            results.append(Finding(True, f"user '{lrs.username}' may read statements (password from ${lrs.password_env})"))
        elif got.status_code in (401, 403):
            results.append(Finding(False, f"the LRS refused user '{lrs.username}' ({got.status_code}) — "
                                          f"{_mend_login(lrs)}"))
        else:
            results.append(Finding(False, f"an authenticated GET of statements answered "
                                   f"{Answer(got.status_code, got.text).reason}"))
    except httpx.TransportError as exc:
        results.append(Finding(False, f"the LRS stopped answering ({type(exc).__name__}: {exc})", offline=True))
    finally:
        if own:
            client.close()
    return results
