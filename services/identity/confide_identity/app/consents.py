"""Telehealth informed consent: publish versions, read the current one, sign, and report status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from confide_chassis import audit
from confide_chassis.auth import Principal as CallerToken
from confide_chassis.errors import FailedPrecondition, InvalidArgument, NotFound, RuleViolation
from confide_chassis.ids import new_id
from confide_identity.app import commands, events
from confide_identity.app.context import AppContext
from confide_identity.app.models import StoredConsentDocument
from confide_identity.app.profiles import assess_minor
from confide_identity.app.support import (
    authorize_or_audit,
    caller_audit,
    client_resource,
    load_caller,
)
from confide_identity.domain.authorization import Action, Resource, authorize
from confide_identity.domain.common import sha256_hex
from confide_identity.domain.consent import (
    ConsentSignature,
    Modality,
    SignatureMethod,
    consent_violations,
    current_consent_document,
    publish_consent_document,
    sign_consent,
)
from confide_identity.domain.roles import Role
from confide_identity.domain.rules import SAFE_10

CLOCK_SKEW = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ModalityStatus:
    modality: Modality
    rule_ids: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return not self.rule_ids


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    current: StoredConsentDocument | None
    signatures: tuple[ConsentSignature, ...]
    modalities: tuple[ModalityStatus, ...]


class ConsentUseCases:
    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    async def publish(
        self, token: CallerToken, command: commands.PublishConsentDocument
    ) -> StoredConsentDocument:
        ctx = self.ctx
        now = ctx.now()
        effective_at = command.effective_at
        if effective_at is None or timedelta(0) < now - effective_at <= CLOCK_SKEW:
            effective_at = now  # "effective immediately" (a client's clock may run a little behind)
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(
                caller.principal, Action.CONSENT_DOCUMENT_PUBLISH, Resource.practice(caller.practice_id)
            )
            existing = await uow.consent_documents.for_practice(caller.practice_id, lock=True)
            document = publish_consent_document(
                document_id=new_id(),
                practice_id=caller.practice_id,
                version=command.version,
                effective_at=effective_at,
                modalities=command.modalities,
                jurisdictions=command.jurisdictions,
                content_sha256=sha256_hex(command.content),
                existing=[item.document for item in existing],
                now=now,
            )
            stored = StoredConsentDocument(
                document=document, title=command.title, content=command.content, published_by=caller.user_id
            )
            await uow.consent_documents.add(stored)
            await uow.commit()
        return stored

    async def current(self, token: CallerToken) -> StoredConsentDocument:
        ctx = self.ctx
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            authorize(caller.principal, Action.CONSENT_DOCUMENT_READ, Resource.practice(caller.practice_id))
            documents = await uow.consent_documents.for_practice(caller.practice_id)
        current = current_consent_document(
            [item.document for item in documents], practice_id=caller.practice_id, now=ctx.now()
        )
        if current is None:
            raise NotFound("the practice has no telehealth consent document in effect")
        return next(item for item in documents if item.document.document_id == current.document_id)

    async def sign(self, token: CallerToken, command: commands.SignConsent) -> ConsentSignature:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            client_id, method = command.client_id, command.method
            client, resource = await client_resource(uow, caller.practice_id, client_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.CONSENT_SIGN,
                resource,
                audit_action=audit.CREATE,
                resource_type="consent",
                resource_id=client_id,
            )
            if Role.CLIENT not in client.roles:
                raise NotFound("client not found")
            verbal = method is SignatureMethod.VERBAL_DOCUMENTED_BY_CLINICIAN
            if caller.user_id == client_id and verbal:
                raise InvalidArgument.field("method", "verbal consent is documented by a clinician")
            if caller.user_id != client_id and not verbal:
                raise InvalidArgument.field("method", "a clinician may only document verbal consent")
            documents = [
                item.document for item in await uow.consent_documents.for_practice(caller.practice_id)
            ]
            current = current_consent_document(documents, practice_id=caller.practice_id, now=now)
            if (
                current is None
                or current.document_id != command.document_id
                or current.version != command.document_version
            ):
                raise FailedPrecondition(
                    RuleViolation(
                        SAFE_10, "sign the practice's current consent version", subject="document_id"
                    )
                )
            signature = sign_consent(
                current,
                signature_id=new_id(),
                client_id=client_id,
                client_practice_id=caller.practice_id,
                jurisdiction=command.jurisdiction,
                signer_role=command.signer_role,
                signed_by=caller.user_id,
                method=method,
                now=now,
                signer_name=command.signer_name or None,
                documented_by=caller.user_id if verbal else None,
            )
            await uow.consent_signatures.add(signature)
            uow.publish(
                events.consent_signed(signature, current),
                caller_audit(
                    caller,
                    audit.CREATE,
                    "consent",
                    signature.signature_id,
                    subject=client_id,
                    now=now,
                ),
            )
            await uow.commit()
        return signature

    async def status(self, token: CallerToken, client_id: UUID) -> ConsentStatus:
        ctx = self.ctx
        now = ctx.now()
        async with ctx.uow() as uow:
            caller = await load_caller(uow, token)
            _, resource = await client_resource(uow, caller.practice_id, client_id)
            await authorize_or_audit(
                ctx,
                caller,
                Action.CONSENT_READ,
                resource,
                audit_action=audit.READ,
                resource_type="consent",
                resource_id=client_id,
            )
            stored_documents = await uow.consent_documents.for_practice(caller.practice_id)
            signatures = tuple(
                sorted(
                    (
                        s
                        for s in await uow.consent_signatures.for_client(caller.practice_id, client_id)
                        if s.active
                    ),
                    key=lambda s: s.signed_at,
                    reverse=True,
                )
            )
            profile = await uow.profiles.get(caller.practice_id, client_id)
            uow.publish(
                caller_audit(
                    caller,
                    audit.READ,
                    "consent",
                    client_id,
                    subject=client_id,
                    now=now,
                )
            )
            await uow.commit()
        documents = [item.document for item in stored_documents]
        current = current_consent_document(documents, practice_id=caller.practice_id, now=now)
        current_stored = next(
            (
                item
                for item in stored_documents
                if current and item.document.document_id == current.document_id
            ),
            None,
        )
        modalities: list[ModalityStatus] = []
        if profile is not None:
            minor = assess_minor(ctx, profile.profile, now)
            for modality in Modality:
                violations = consent_violations(
                    client_id=client_id,
                    practice_id=caller.practice_id,
                    jurisdiction=profile.profile.home_state,
                    modality=modality,
                    documents=documents,
                    signatures=signatures,
                    minor=minor,
                    now=now,
                )
                modalities.append(ModalityStatus(modality, tuple(sorted({v.rule_id for v in violations}))))
        return ConsentStatus(current=current_stored, signatures=signatures, modalities=tuple(modalities))
