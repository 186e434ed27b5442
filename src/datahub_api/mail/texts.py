"""What each kind of mail says, in Dutch, French, English and German, and whether its
addressee may unsubscribe from it.

**Unsubscribe only where the law allows it.** Every mail here is a service message, not
direct marketing, so no law *requires* an unsubscribe; but a person may not be allowed to
switch off a notice they must act on or that the law makes us send. Hence:

* informational (``informational=True``: a ``List-Unsubscribe`` header, RFC 8058 one-click,
  and a link in the text; the addressee's setting stops them): **mandate_expiring**, a
  reminder that a mandate ends (nothing to do unless they want to renew with their ESP).
* never unsubscribable (the text says why the mail was sent):

  - **co_consent_request**: the grid user must act (no answer by the date is a refusal);
  - **paper_mandate_registered** and **paper_mandate_name_mismatch**: the notice the DSO
    owes the grid user and the customer when a third party registers a signed mandate on
    their access point (GDPR Art. 14 transparency), and their chance to contest it;
  - **audit_opened**: the ESP must upload the signed mandate before the deadline, or the
    mandate ends;
  - **history_export_ready**: the delivery of what the ESP requested (the service
    description promises it "per mail"); a link, never the file;
  - **contract_approved** and **contract_rejected**: the DSO's decision on an application
    (with the reason of a refusal).

Texts are ``str.format`` templates over the facts of :func:`facts`; a test holds every
language to the same placeholders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from datahub_api.mail.models import Language

BRUSSELS = ZoneInfo("Europe/Brussels")
DEFAULT_LANGUAGE = Language.nl


@dataclass(frozen=True)
class MailText:
    informational: bool
    link_path: str  # where the link in the mail goes (under the public base URL)
    subject: dict[Language, str]
    body: dict[Language, str]


KINDS: dict[str, MailText] = {
    "co_consent_request": MailText(
        informational=False,
        link_path="/portal/co-consents",
        subject={
            Language.nl: "Uw toestemming gevraagd voor de meetgegevens van {ean}",
            Language.fr: "Votre consentement est demandé pour les données de comptage de {ean}",
            Language.en: "Your consent is asked for the metering data of {ean}",
            Language.de: "Ihre Zustimmung für die Messdaten von {ean} wird erbeten",
        },
        body={
            Language.nl: "{customer} gaf een energiedienstverlener toegang tot de meetgegevens "
            "van toegangspunt {ean}. U bent de netgebruiker van dat toegangspunt, dus de "
            "toegang gaat pas in als u ook toestemt.\n\nAntwoord vóór {due}: {link}\n\n"
            "Zonder antwoord vóór die datum geldt het als een weigering.",
            Language.fr: "{customer} a donné à un fournisseur de services énergétiques l'accès "
            "aux données de comptage du point d'accès {ean}. Vous êtes l'utilisateur du réseau "
            "de ce point d'accès : l'accès ne commence qu'avec votre consentement.\n\n"
            "Répondez avant le {due} : {link}\n\n"
            "Sans réponse avant cette date, la demande est considérée comme refusée.",
            Language.en: "{customer} gave an energy service provider access to the metering "
            "data of access point {ean}. You are the grid user of that access point, so the "
            "access starts only if you consent too.\n\nAnswer before {due}: {link}\n\n"
            "No answer by that date counts as a refusal.",
            Language.de: "{customer} hat einem Energiedienstleister Zugang zu den Messdaten des "
            "Zugangspunkts {ean} gegeben. Sie sind der Netznutzer dieses Zugangspunkts; der "
            "Zugang beginnt erst mit Ihrer Zustimmung.\n\nAntworten Sie vor dem {due}: {link}\n\n"
            "Ohne Antwort bis zu diesem Datum gilt die Anfrage als abgelehnt.",
        },
    ),
    "paper_mandate_registered": MailText(
        informational=False,
        link_path="/portal/mandates",
        subject={
            Language.nl: "Papieren mandaat geregistreerd op uw toegangspunt {ean}",
            Language.fr: "Mandat papier enregistré sur votre point d'accès {ean}",
            Language.en: "Paper mandate registered on your access point {ean}",
            Language.de: "Papiervollmacht für Ihren Zugangspunkt {ean} registriert",
        },
        body={
            Language.nl: "{esp} registreerde op {registered} een ondertekend mandaat "
            "(getekend door {signatory}) om de meetgegevens van toegangspunt {ean} te lezen."
            "\n\nHebt u dit niet ondertekend? Betwist het hier: {link}",
            Language.fr: "{esp} a enregistré le {registered} un mandat signé (signé par "
            "{signatory}) pour lire les données de comptage du point d'accès {ean}.\n\n"
            "Vous ne l'avez pas signé ? Contestez-le ici : {link}",
            Language.en: "{esp} registered a signed mandate (signed by {signatory}) on "
            "{registered} to read the metering data of access point {ean}.\n\n"
            "Did you not sign it? Contest it here: {link}",
            Language.de: "{esp} hat am {registered} eine unterschriebene Vollmacht "
            "(unterschrieben von {signatory}) registriert, um die Messdaten des Zugangspunkts "
            "{ean} zu lesen.\n\nHaben Sie sie nicht unterschrieben? Widersprechen Sie hier: "
            "{link}",
        },
    ),
    "paper_mandate_name_mismatch": MailText(
        informational=False,
        link_path="/portal/mandates",
        subject={
            Language.nl: "Mandaat op {ean} ondertekend door iemand anders dan u",
            Language.fr: "Mandat sur {ean} signé par quelqu'un d'autre que vous",
            Language.en: "Mandate on {ean} signed by someone other than you",
            Language.de: "Vollmacht für {ean} von jemand anderem als Ihnen unterschrieben",
        },
        body={
            Language.nl: "Een papieren mandaat op toegangspunt {ean} is getekend door iemand "
            "die niet de netgebruiker is. De netbeheerder onderzoekt het; tot dan worden geen "
            "gegevens vrijgegeven.\n\nUw mandaten: {link}",
            Language.fr: "Un mandat papier sur le point d'accès {ean} a été signé par une "
            "personne qui n'est pas l'utilisateur du réseau. Le gestionnaire de réseau vérifie ; "
            "d'ici là, aucune donnée n'est transmise.\n\nVos mandats : {link}",
            Language.en: "A paper mandate on access point {ean} was signed by someone who is "
            "not the grid user. The grid operator is checking it; until then no data is "
            "released.\n\nYour mandates: {link}",
            Language.de: "Eine Papiervollmacht für den Zugangspunkt {ean} wurde von jemandem "
            "unterschrieben, der nicht der Netznutzer ist. Der Netzbetreiber prüft sie; bis "
            "dahin werden keine Daten freigegeben.\n\nIhre Vollmachten: {link}",
        },
    ),
    "mandate_expiring": MailText(
        informational=True,
        link_path="/portal/mandates",
        subject={
            Language.nl: "Uw mandaat voor {esp} op {ean} loopt af op {expires}",
            Language.fr: "Votre mandat pour {esp} sur {ean} expire le {expires}",
            Language.en: "Your mandate for {esp} on {ean} expires on {expires}",
            Language.de: "Ihre Vollmacht für {esp} zu {ean} läuft am {expires} ab",
        },
        body={
            Language.nl: "{esp} leest de meetgegevens van toegangspunt {ean} tot {expires}. "
            "Daarna stopt de toegang, tenzij u een nieuw mandaat geeft.\n\nUw mandaten: {link}",
            Language.fr: "{esp} lit les données de comptage du point d'accès {ean} jusqu'au "
            "{expires}. Ensuite l'accès s'arrête, sauf si vous donnez un nouveau mandat.\n\n"
            "Vos mandats : {link}",
            Language.en: "{esp} reads the metering data of access point {ean} until {expires}. "
            "Then the access stops, unless you give a new mandate.\n\nYour mandates: {link}",
            Language.de: "{esp} liest die Messdaten des Zugangspunkts {ean} bis zum {expires}. "
            "Danach endet der Zugang, es sei denn, Sie erteilen eine neue Vollmacht.\n\n"
            "Ihre Vollmachten: {link}",
        },
    ),
    "history_export_ready": MailText(
        informational=False,
        link_path="/portal/esp/history-exports",
        subject={
            Language.nl: "Historiek-export {reference} is klaar",
            Language.fr: "L'export d'historique {reference} est prêt",
            Language.en: "History export {reference} is ready",
            Language.de: "Historienexport {reference} ist fertig",
        },
        body={
            Language.nl: "De historiek-export {reference} die u aanvroeg is klaar. Download "
            "hem vóór {expires}: {link}",
            Language.fr: "L'export d'historique {reference} que vous avez demandé est prêt. "
            "Téléchargez-le avant le {expires} : {link}",
            Language.en: "The history export {reference} you requested is ready. Download it "
            "before {expires}: {link}",
            Language.de: "Der von Ihnen angeforderte Historienexport {reference} ist fertig. "
            "Laden Sie ihn vor dem {expires} herunter: {link}",
        },
    ),
    "audit_opened": MailText(
        informational=False,
        link_path="/portal/esp/nps-audits",
        subject={
            Language.nl: "Audit geopend: ondertekend mandaat voor {ean} gevraagd",
            Language.fr: "Audit ouvert : mandat signé demandé pour {ean}",
            Language.en: "Audit opened: signed mandate asked for {ean}",
            Language.de: "Prüfung eröffnet: unterschriebene Vollmacht für {ean} angefordert",
        },
        body={
            Language.nl: "De netbeheerder vraagt het ondertekende mandaat {reference} voor "
            "toegangspunt {ean}. Laad het op vóór {due}, anders eindigt het mandaat: {link}",
            Language.fr: "Le gestionnaire de réseau demande le mandat signé {reference} pour "
            "le point d'accès {ean}. Chargez-le avant le {due}, sinon le mandat prend fin : "
            "{link}",
            Language.en: "The grid operator asks for the signed mandate {reference} of access "
            "point {ean}. Upload it before {due}, or the mandate ends: {link}",
            Language.de: "Der Netzbetreiber fordert die unterschriebene Vollmacht {reference} "
            "für den Zugangspunkt {ean} an. Laden Sie sie vor dem {due} hoch, sonst endet die "
            "Vollmacht: {link}",
        },
    ),
    "contract_approved": MailText(
        informational=False,
        link_path="/portal/esp/contracts",
        subject={
            Language.nl: "Contract {number} goedgekeurd",
            Language.fr: "Contrat {number} approuvé",
            Language.en: "Contract {number} approved",
            Language.de: "Vertrag {number} genehmigt",
        },
        body={
            Language.nl: "De netbeheerder keurde uw contractaanvraag {number} goed. "
            "Uw contracten: {link}",
            Language.fr: "Le gestionnaire de réseau a approuvé votre demande de contrat "
            "{number}. Vos contrats : {link}",
            Language.en: "The grid operator approved your contract application {number}. "
            "Your contracts: {link}",
            Language.de: "Der Netzbetreiber hat Ihren Vertragsantrag {number} genehmigt. "
            "Ihre Verträge: {link}",
        },
    ),
    "contract_rejected": MailText(
        informational=False,
        link_path="/portal/esp/contracts",
        subject={
            Language.nl: "Contract {number} geweigerd",
            Language.fr: "Contrat {number} refusé",
            Language.en: "Contract {number} rejected",
            Language.de: "Vertrag {number} abgelehnt",
        },
        body={
            Language.nl: "De netbeheerder weigerde uw contractaanvraag {number}.\n\n"
            "Reden: {reason}\n\nUw contracten: {link}",
            Language.fr: "Le gestionnaire de réseau a refusé votre demande de contrat "
            "{number}.\n\nMotif : {reason}\n\nVos contrats : {link}",
            Language.en: "The grid operator rejected your contract application {number}.\n\n"
            "Reason: {reason}\n\nYour contracts: {link}",
            Language.de: "Der Netzbetreiber hat Ihren Vertragsantrag {number} abgelehnt.\n\n"
            "Grund: {reason}\n\nIhre Verträge: {link}",
        },
    ),
}

# The lines under every mail: why it came, and (informational ones) how to stop them.
FOOTER: dict[Language, str] = {
    Language.nl: "U krijgt deze mail van de datahub van uw netbeheerder.",
    Language.fr: "Vous recevez ce mail du datahub de votre gestionnaire de réseau.",
    Language.en: "You receive this mail from your grid operator's datahub.",
    Language.de: "Sie erhalten diese Mail vom Datahub Ihres Netzbetreibers.",
}
REQUIRED_NOTICE: dict[Language, str] = {
    Language.nl: "Dit is een dienstbericht dat u niet kunt uitschakelen.",
    Language.fr: "Ceci est un message de service que vous ne pouvez pas désactiver.",
    Language.en: "This is a service message you cannot switch off.",
    Language.de: "Dies ist eine Dienstmitteilung, die Sie nicht abbestellen können.",
}
UNSUBSCRIBE: dict[Language, str] = {
    Language.nl: "Geen herinneringen meer? Meld u af: {unsubscribe}",
    Language.fr: "Plus de rappels ? Désabonnez-vous : {unsubscribe}",
    Language.en: "No more reminders? Unsubscribe: {unsubscribe}",
    Language.de: "Keine Erinnerungen mehr? Abbestellen: {unsubscribe}",
}


def language_of(value: str | None) -> Language:
    try:
        return Language(value) if value else DEFAULT_LANGUAGE
    except ValueError:
        return DEFAULT_LANGUAGE


def _day(value: Any) -> str:
    """An instant (ISO 8601 text) as its Brussels date, ``YYYY-MM-DD``."""
    if not isinstance(value, str) or not value:
        return "?"
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return value[:10]
    if instant.tzinfo is None:
        return instant.date().isoformat()
    return instant.astimezone(BRUSSELS).date().isoformat()


def facts(payload: dict[str, Any]) -> dict[str, str]:
    """The placeholders' values from a message's payload (what its writer put there)."""

    def text(key: str) -> str:
        value = payload.get(key)
        return "?" if value is None else str(value)

    return {
        "ean": text("ean"),
        "customer": text("customer"),
        "esp": text("esp"),
        "signatory": text("signatory"),
        "reference": text("reference_number"),
        "number": text("number"),
        "reason": text("reason"),
        "due": _day(payload.get("due_at")),
        "registered": _day(payload.get("registered_at")),
        "expires": _day(payload.get("expires_at")),
    }
