"""Grading, the app's job: a session is graded once at a time, whichever screen is open,
and each step is reported by a :class:`GradingUpdate` message (the End screen of that
session shows it; a result that arrives after the learner left it is a notification)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from textual.message import Message

if TYPE_CHECKING:
    from ..models.config import RoleSettings
    from ..models.gateway import ModelClient
    from ..practice.evaluation import Evaluation
    from ..practice.sessions import SessionRecord


class GradingUpdate(Message):
    """How the grading of one session goes: ``final`` with the result (``evaluation``, None
    when it could not be graded) or a step on the way."""

    def __init__(self, key: str, status: str, evaluation: Any = None, *, final: bool = False) -> None:
        super().__init__()
        self.key = key
        self.status = status
        self.evaluation = evaluation
        self.final = final


class Grading:
    """The sessions being graded, and the latest status line of each."""

    def __init__(self) -> None:
        self.running: dict[str, str] = {}  # session key -> latest status

    @staticmethod
    def key(record: "SessionRecord") -> str:
        return record.folder.name if record.folder else record.session_id

    def status(self, record: "SessionRecord") -> str | None:
        """The status of a grading still running for this session, else None."""
        return self.running.get(self.key(record))

    def begin(self, record: "SessionRecord") -> bool:
        """Mark the session as being graded; False when it already is."""
        key = self.key(record)
        if key in self.running:
            return False
        self.running[key] = "Grading…"
        return True

    async def run(self, record: "SessionRecord", model_factory: Callable[["RoleSettings"], "ModelClient"],
                  settings: "RoleSettings", post: Callable[[Message], Any]) -> None:
        """Grade ``record`` with the evaluator model and post every step; never raises."""
        from ..core.errors import RoleplayError
        from ..grading.evaluator import evaluate

        key = self.key(record)

        def step(status: str) -> None:
            self.running[key] = status
            post(GradingUpdate(key, status))

        evaluation = None
        try:
            judge = model_factory(settings)
            status = f"Grading with {judge.model}… the measured figures are ready now (Measured tab)."
            step(status)

            def progress(done: int, total: int) -> None:
                step(f"{status}\n{'█' * done}{'░' * (total - done)} {done}/{total} judged")

            outcome = await evaluate(record, record.rubric_snapshot(), judge, on_progress=progress)
            if outcome.evaluation is None:
                final = (f"Evaluation pending: {outcome.pending_reason}. Press g to try again, or run "
                         "`roleplay evaluate --pending` later. The measured figures are saved.")
            else:
                evaluation = outcome.evaluation
                final = graded_line(evaluation)
                if outcome.pending_reason:
                    final += f" · judge failed: {outcome.pending_reason} (g asks it again)"
        except RoleplayError as exc:
            final = f"Not graded: {exc}. Press g to try again."
        except OSError as exc:
            final = (f"Not graded: the evaluation could not be saved ({exc.strerror or exc}) — free some disk "
                     "space or check permissions, then press g. The transcript is safe.")
        except Exception as exc:  # noqa: BLE001 - a bug must still reach the screen, not leave "Grading…"
            final = f"Not graded: unexpected failure ({exc!r}). Press g to try again."
        self.running.pop(key, None)
        post(GradingUpdate(key, final, evaluation, final=True))


def graded_line(evaluation: "Evaluation") -> str:
    """"Graded: 3.86 of 5", and how many criteria were scored from evidence."""
    line = f"Graded: {evaluation.overall.score:.2f} of {evaluation.overall.scale[-1]}"
    if evaluation.fell_back:
        line += f" · {len(evaluation.fell_back)} of {len(evaluation.criteria)} criteria scored from evidence"
    return line
