"""Starting files for trainers: ``roleplay new persona ID`` and ``roleplay new rubric ID``.

Each template is a complete file that validates as written, with every key explained in a
comment saying what a good value looks like, and the ``yaml-language-server`` line that
points an editor at the JSON Schema (:mod:`.schema`), which is copied into the workspace.
"""

from __future__ import annotations

from pathlib import Path

from ..core.errors import RoleplayError
from ..core.ids import id_path
from .schema import install_schemas, schema_line

PERSONA = """{schema}
# A customer persona for roleplay. Everything under character, facts, hidden, frustration
# and end is for the model playing the customer and is never shown to the learner;
# brief is what the learner reads. Check it with: roleplay validate personas/{id}.yaml
# Try it before learners do: roleplay dry-run --persona {id}
version: 1                      # file format version; this roleplay reads 1

# The customer's name, as the learner will hear it.
name: Sam Carter

# One line for the picker (under 80 characters): the situation in a few words.
title: Charged twice for one order

# easy, medium or hard: how forgiving the customer is.
difficulty: easy

# The criteria of the rubric this persona trains (ids from rubrics/core-soft-skills.yaml).
skills: [empathy, active-listening, problem-solving]

tags: [billing]                 # free labels for filtering, e.g. [telecom, retention]
rubric: core-soft-skills        # the rubric's file name without .yaml

# What the learner reads before the call: who they are, what is on their screen, what
# they may offer without approval and what they may not. Be concrete: amounts, limits.
brief: |
  You are a support agent at Northgate Online Store, answering chat.

  On your screen: order 58-2210 was charged twice ($84 each) on the customer's card.
  The second charge is a known payment-system error from yesterday.

  What you may do: refund the duplicate charge now (3-5 working days to appear),
  and add a $10 voucher for the trouble.

# The customer's first message: in their voice, with the problem, not the whole story.
opening: "I've been charged twice for the same order. Can you explain that?"

character:
  # Who they are and their history with the company (a sentence or two).
  background: Orders from the store a few times a year; pays by debit card.
  # What happened that makes them get in touch.
  situation: Their bank app shows two $84 payments for one order made yesterday.
  # What they want out of the conversation: the test of whether it was resolved.
  goal: The extra $84 back, and to know when it will arrive.
  # Temperament: how they react to good and to poor handling.
  personality: Calm at first; gets short if asked to repeat themselves; warms up when the agent owns the mistake.
  # How they talk: sentence length, tone, habits.
  style: Short, polite sentences. Says "okay" a lot.
  # A few lines in their voice: the model copies the voice, not the words.
  examples:
    - "Okay. So when do I get it back?"
    - "Fine. As long as it's sorted this week."

# What the customer knows and gives when asked, one fact per line, in their words.
facts:
  - "The order number is 58-2210."
  - "Both payments were $84, yesterday afternoon."

# Facts the customer keeps back until the learner earns them (reveal_when says how).
hidden:
  - fact: "The extra $84 means their rent payment on Friday might bounce."
    reveal_when: the agent asks how this has left them feeling or whether anything makes it urgent
    # Optional: example agent lines, in other words than reveal_when's, from which roleplay learns
    # what earns the fact (earned_by) and what comes close but does not (not_earned_by: asked too
    # early, a closed question, an accusation). Many voices help. Uncomment and write your own.
    # earned_by:
    #   - "Is anything riding on getting that money back quickly?"
    #   - "How has the double charge affected you this week?"
    # not_earned_by:
    #   - "Was it the same card both times?"
    #   - "Did you press the pay button twice?"

frustration:
  start: 4                      # 0 calm ... 10 furious
  calms_when:                   # what the learner does that calms the customer
    - the agent apologises for the double charge and owns it
  rises_when:                   # what makes it worse
    - the agent asks for the order number again after it was given
  # Optional: example agent lines that calm this customer (calmed_by) and that anger them
  # (raised_by); one line may not stand under two conditions. Uncomment and write your own.
  # calmed_by:
  #   - "That's our mistake, and I'm refunding the second $84 right now."
  # raised_by:
  #   - "What was the order number again?"

end:
  # what the agent must do for the customer to be satisfied: concrete, with the brief's own words
  resolved_when: the agent refunds the duplicate $84 charge and says it will arrive in 3-5 working days
  gives_up_when: the agent blames the bank or refuses to refund
  max_turns: 12                 # learner turns before the session stops (2 to 100)

# Words this customer would not understand; plain words may follow a colon.
jargon:
  - "chargeback: asking your bank to reverse the payment"
  - "authorisation hold: a payment your bank has put on hold"

# How the customer sounds in voice practice (optional; needs the voice extra).
# voice:
#   id: espeak:en-gb+m3         # engine:name: piper:joe, espeak:en-us+f4 ...
#   speed: 0.85                 # 1.0 normal; slower for an older caller
#   pitch: 0.9                  # 1.0 the voice's own
"""

RUBRIC = """{schema}
# A grading rubric for roleplay: a scale, a pass mark and the criteria. Personas list the
# criterion ids they train under skills. Check it with: roleplay validate rubrics/{id}.yaml
version: 1                      # file format version; this roleplay reads 1
name: {title}                   # the rubric's display name
scale: [1, 5]                   # lowest and highest score
pass_mark: 3.5                  # the weighted mean needed to pass, inside the scale

criteria:
  # One entry per skill. id: kebab-case, unique; weight: relative weight (default 1);
  # question: what the grader answers; levels: one line for every score of the scale,
  # describing what the agent does (observable behaviour, not adjectives).
  - id: empathy
    name: Empathy
    weight: 2
    question: Did the agent recognise the customer's feelings and respond to them?
    levels:
      1: Ignores or dismisses how the customer feels.
      2: A scripted apology, not linked to what the customer said.
      3: Acknowledges the feeling once, in general terms.
      4: Names the feeling and its cause in the customer's words before solving.
      5: As 4, and keeps acknowledging as the customer's mood changes.
  - id: clear-communication
    name: Clear communication
    question: Did the agent use plain words, one step at a time, and check understanding?
    levels:
      1: Unexplained jargon; the customer is unsure what happens next.
      2: Mostly understandable, but cluttered, or a term left unexplained.
      3: Plain and correct, but several steps at once and no check.
      4: Plain words, one step at a time, and a clear next step.
      5: As 4, and checks understanding with a say-back.

# Words a customer would not understand; plain words may follow a colon.
jargon:
  - "SLA: the time we promised to fix it in"
  - ticket queue
"""

KINDS = {"persona": ("personas", PERSONA), "rubric": ("rubrics", RUBRIC)}


def new_file(workspace: Path, kind: str, file_id: str) -> Path:
    """Write the starting file for a new persona or rubric; returns its path."""
    from ..core.storage import atomic_write_text

    folder, template = KINDS[kind]
    path = id_path(Path(workspace) / folder, file_id, f"{kind} id", ".yaml")  # never outside the workspace
    if path.exists():
        raise RoleplayError(f"{path} already exists — pick another id, or edit that file")
    path.parent.mkdir(parents=True, exist_ok=True)
    install_schemas(workspace)
    title = file_id.replace("-", " ").capitalize()
    atomic_write_text(path, template.format(schema=schema_line(kind), id=file_id, title=title))
    return path
