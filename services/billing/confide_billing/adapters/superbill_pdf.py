"""Superbills as PDF (fpdf2): every field an out-of-network claim needs (BILL-40).

The PDF is built in memory for the request and never stored: it carries the client's name and date
of birth, which billing does not keep.
"""

from __future__ import annotations

from fpdf import FPDF

from confide_billing.app.accounts import SuperbillData
from confide_billing.domain.money import Money


def _amount(money: Money) -> str:
    return str(money)


def _latin1(text: str) -> str:
    # The core PDF fonts are Latin-1; anything else is replaced rather than failing the request.
    return text.encode("latin-1", "replace").decode("latin-1")


class SuperbillPdf:
    def render(self, superbill: object) -> bytes:
        assert isinstance(superbill, SuperbillData)
        data = superbill
        pdf = FPDF(format="Letter")
        pdf.set_auto_page_break(auto=True, margin=15)
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 10, "Superbill (statement for insurance reimbursement)", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)

        def line(text: str) -> None:
            pdf.cell(0, 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")

        practice = data.practice
        line(f"Provider: {practice.legal_name}")
        line(f"Address: {practice.address}    Phone: {practice.phone}")
        line(f"Tax ID (EIN): {practice.tax_id}    Group NPI: {practice.group_npi or '-'}")
        for clinician in sorted({c.clinician_id for c in data.charges if c.clinician_id}):
            facts = practice.clinician(clinician)
            if facts is not None:
                line(f"Rendering provider: {facts.display_name}")
                line(f"    NPI: {facts.npi}    License: {facts.license}")
        pdf.ln(2)
        line(f"Client: {data.client_name or '-'}")
        line(f"Date of birth: {data.client_date_of_birth.isoformat() if data.client_date_of_birth else '-'}")
        line(f"Statement period: {data.from_date.isoformat()} to {data.to_date.isoformat()}")
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 9)
        headers = ("Date of service", "POS", "CPT", "Units", "Modifiers", "Diagnoses (ICD-10-CM)", "Fee")
        widths = (28, 12, 18, 12, 20, 60, 30)
        for header, width in zip(headers, widths, strict=True):
            pdf.cell(width, 7, header, border=1)
        pdf.ln()
        pdf.set_font("Helvetica", size=9)
        for charge in data.charges:
            for priced in charge.lines:
                cells = (
                    charge.service_date.isoformat(),
                    charge.coding.place_of_service if charge.coding else "",
                    priced.line.cpt,
                    str(priced.line.units),
                    " ".join(charge.coding.modifiers) if charge.coding else "",
                    ", ".join(charge.diagnosis_codes),
                    _amount(priced.amount),
                )
                for cell, width in zip(cells, widths, strict=True):
                    pdf.cell(width, 7, _latin1(cell), border=1)
                pdf.ln()
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 10)
        line(f"Total charged: {_amount(data.total_charged)}")
        line(f"Amount paid: {_amount(data.total_paid)}")
        pdf.set_font("Helvetica", size=8)
        line("Telehealth: POS 10 = in the client's home, POS 02 = other than the client's home.")
        line("Signature of provider: ______________________________")
        return bytes(pdf.output())
