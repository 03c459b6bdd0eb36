"""How a session is delivered, and the classes coverage is reported in."""

from __future__ import annotations

from enum import StrEnum


class Modality(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"  # audio-only (phone)
    CHAT = "chat"  # live text chat
    MESSAGING = "messaging"  # asynchronous messaging ("text therapy")
    IN_PERSON = "in_person"

    @property
    def is_telehealth(self) -> bool:
        return self is not Modality.IN_PERSON

    @property
    def modality_class(self) -> ModalityClass:
        return _CLASS_OF[self]

    @classmethod
    def parse(cls, value: object) -> Modality | None:
        """The modality named by `value`, or None when unknown (callers fail closed)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                return None
        return None


class ModalityClass(StrEnum):
    """Modalities grouped the way the rules treat them: some rules exclude audio-only or asynchronous
    delivery (LIC-61) or in-person practice (LIC-10). Coverage reports a class only when every
    modality in it is authorized."""

    SYNCHRONOUS_TELEHEALTH = "synchronous_telehealth"  # video, live chat
    AUDIO_ONLY = "audio_only"
    ASYNCHRONOUS = "asynchronous"  # messaging
    IN_PERSON = "in_person"

    @property
    def modalities(self) -> tuple[Modality, ...]:
        return tuple(m for m in Modality if _CLASS_OF[m] is self)


_CLASS_OF: dict[Modality, ModalityClass] = {
    Modality.VIDEO: ModalityClass.SYNCHRONOUS_TELEHEALTH,
    Modality.CHAT: ModalityClass.SYNCHRONOUS_TELEHEALTH,
    Modality.AUDIO: ModalityClass.AUDIO_ONLY,
    Modality.MESSAGING: ModalityClass.ASYNCHRONOUS,
    Modality.IN_PERSON: ModalityClass.IN_PERSON,
}
