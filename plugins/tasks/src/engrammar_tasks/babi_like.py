"""``babi_like``: generated story-question-answer sequences in the format of bAbI (Weston et al.,
2015) task 1, *single supporting fact*, and task 2, *two supporting facts*. No data set is
downloaded: stories are drawn from templates over a small vocabulary with the ``torch.Generator``
given, so this is a stand-in with bAbI's structure, not bAbI itself.

Task 1 (``variant: 1``): people move between places; the question asks where one of them is::

    mary went to kitchen . john moved to garden . mary journeyed to office . where is mary ? -> office

Task 2 (``variant: 2``): people also pick up objects; the question asks where an object is, which
takes two facts — who picked it up, and where that person went last::

    john got the apple . john went to garden . mary moved to office . where is apple ? -> garden

Every sentence is five tokens (``NAME VERB to PLACE .`` or ``NAME VERB the OBJECT .``) and the
question four (``where is NAME ?`` / ``where is OBJECT ?``); the answer is the target at the ``?``
token, the only scored position. Inputs are one-hot tokens, outputs logits over the vocabulary;
loss: cross-entropy; metric: ``accuracy`` (chance: one over the number of places).

How it differs from bAbI: one question per story, at its end (bAbI asks every few sentences); a
vocabulary of a few dozen words; no ``the`` before places and no ``dropped`` sentences (task 2's
objects are picked up once and never put down); the story always holds the facts the answer
needs.
"""

from __future__ import annotations

import torch
from engrammar.spec import between, field, ge, one_of, spec
from engrammar.task import TaskBatch, TaskSpec

from .tokens import TokenTask

__all__ = ["NAMES", "OBJECTS", "PLACES", "VOCABULARY", "BabiLike", "BabiLikeSpec", "decode"]

NAMES = ("mary", "john", "sandra", "daniel", "fred", "julie")
PLACES = ("kitchen", "garden", "office", "bedroom", "hallway", "bathroom")
OBJECTS = ("apple", "football", "milk", "key")
MOVES = ("went", "moved", "journeyed", "travelled")
TAKES = ("got", "grabbed", "took")
WORDS = ("to", "the", ".", "where", "is", "?")
#: Token 0 is padding (never produced by the generator); then the words, names, places, objects.
VOCABULARY = ("<pad>", *WORDS, *MOVES, *TAKES, *NAMES, *PLACES, *OBJECTS)
_ID = {word: index for index, word in enumerate(VOCABULARY)}


def decode(tokens: list[int] | torch.Tensor) -> str:
    """Token ids -> the words, separated by spaces."""
    return " ".join(VOCABULARY[int(t)] for t in tokens)


@spec
class BabiLikeSpec(TaskSpec):
    variant: int = field(default=1, validator=one_of(1, 2), doc="bAbI task 1 (single supporting fact) or 2 (two)")
    sentences: int = field(default=6, validator=ge(2), doc="sentences per story, before the question")
    names: int = field(default=4, validator=between(2, len(NAMES)), doc="people the stories use")
    places: int = field(default=6, validator=between(2, len(PLACES)), doc="places the stories use")
    objects: int = field(default=3, validator=between(1, len(OBJECTS)), doc="objects (variant 2)")
    p_object: float = field(
        default=0.3, validator=between(0.0, 1.0), doc="variant 2: share of the other sentences that pick up an object"
    )


class BabiLike(TokenTask):
    """bAbI-format stories of people moving (and carrying objects); answer where someone or something is."""

    spec_cls = BabiLikeSpec
    spec: BabiLikeSpec

    @property
    def vocab_size(self) -> int:
        return len(VOCABULARY)

    @property
    def sequence_length(self) -> int:
        return 5 * self.spec.sentences + 4

    @property
    def chance_level(self) -> float:
        """A guess among the places: one over their number."""
        return 1.0 / self.spec.places

    def sample(self, batch_size: int, generator: torch.Generator) -> TaskBatch:
        s = self.spec
        count = s.sentences

        def uniform(high: int, shape: tuple[int, ...] = (batch_size, count)) -> torch.Tensor:
            return torch.randint(0, high, shape, generator=generator)

        who = uniform(s.names)  # (B, S) the subject of each sentence
        where = uniform(s.places)  # the place of a move
        move_verb = uniform(len(MOVES))
        take_verb = uniform(len(TAKES))
        what = uniform(s.objects)  # the object of a pick-up
        is_take = torch.zeros(batch_size, count, dtype=torch.bool)
        slot = torch.arange(count)[None]
        if s.variant == 1:
            asked = who.gather(1, uniform(count, (batch_size, 1)))  # someone who moves at least once
        else:
            # The asked object is picked up once, by `holder`, at `taken`; the holder moves at least
            # once, at `moved` (another sentence); other sentences move anyone or pick up another object.
            taken = uniform(count, (batch_size, 1))
            moved = (taken + 1 + uniform(count - 1, (batch_size, 1))) % count
            holder, asked = uniform(s.names, (batch_size, 1)), uniform(s.objects, (batch_size, 1))
            is_take = torch.rand(batch_size, count, generator=generator) < s.p_object
            if s.objects > 1:
                other = (asked + 1 + uniform(s.objects - 1)) % s.objects
            else:
                other, is_take = what, torch.zeros_like(is_take)  # no other object to pick up
            what = torch.where(slot == taken, asked, other)
            is_take = torch.where(slot == taken, True, torch.where(slot == moved, False, is_take))
            who = torch.where((slot == taken) | (slot == moved), holder, who)

        # The answer: the place of the last move of the asked person (variant 1) or of the holder.
        person = asked if s.variant == 1 else holder
        moves_of = (who == person) & ~is_take
        last = torch.where(moves_of, slot, torch.full_like(slot, -1)).max(dim=1, keepdim=True).values
        answer = where.gather(1, last.clamp(min=0))  # last >= 0 by construction

        names = torch.tensor([_ID[n] for n in NAMES])
        places = torch.tensor([_ID[p] for p in PLACES])
        objects = torch.tensor([_ID[o] for o in OBJECTS])
        verb = torch.where(
            is_take, torch.tensor([_ID[t] for t in TAKES])[take_verb], torch.tensor([_ID[m] for m in MOVES])[move_verb]
        )
        link = torch.where(is_take, _ID["the"], _ID["to"])
        target_word = torch.where(is_take, objects[what], places[where])
        story = torch.stack([names[who], verb, link, target_word, torch.full_like(who, _ID["."])], dim=2)
        subject = names[asked] if s.variant == 1 else objects[asked]
        question = torch.cat(
            [
                torch.full((batch_size, 1), _ID["where"]),
                torch.full((batch_size, 1), _ID["is"]),
                subject,
                torch.full((batch_size, 1), _ID["?"]),
            ],
            dim=1,
        )
        tokens = torch.cat([story.reshape(batch_size, -1), question], dim=1)  # (B, 5S + 4)
        targets = torch.zeros_like(tokens)
        targets[:, -1:] = places[answer]
        mask = torch.zeros(tokens.shape, dtype=torch.bool)
        mask[:, -1] = True
        return TaskBatch(self.encode(tokens), targets, mask)
