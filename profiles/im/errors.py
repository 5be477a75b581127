"""The catalogue of Tencent IM ErrorCodes: what each means in plain words and whether a retry helps.

Every code in docs/tencent-im.md §4 (portrait_set), §5 (portrait_get and accounts) and §6 (common codes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


def gettext_noop(message: str) -> str:
    """Marks a meaning or advice for translation (Django's makemessages finds this keyword) without
    making the catalogue depend on Django; ``profiles.errortext`` translates it where it is shown."""
    return message


class Retry(enum.StrEnum):
    NEVER = "never"
    BACKOFF = "backoff"  # transient: retry with exponential backoff
    LIMITED = "limited"  # retry once or twice
    NEW_USERSIG = "new_usersig"  # regenerate the UserSig, then retry once
    LATER = "later"  # retry after about a minute


@dataclass(frozen=True)
class ErrorCodeInfo:
    code: int
    meaning: str
    retry: Retry
    # True when the code is about one tag's value or permission, so a form can place it on a field.
    concerns_tag: bool = False
    known: bool = True

    @property
    def retryable(self) -> bool:
        return self.retry is not Retry.NEVER

    def describe(self) -> str:
        """In English, for logs and command output; pages use ``profiles.errortext.error_text``."""
        return f"ErrorCode {self.code}: {self.meaning}"

    @property
    def advice(self) -> str:
        """What a person should do about this code, from its retry policy (docs/tencent-im.md §4–§6);
        English, marked for translation."""
        if self.code == 0:
            return gettext_noop("Nothing: Tencent applied the request.")
        if self.retry is Retry.BACKOFF:
            return gettext_noop(
                "Transient: "
                "send again after a pause (background jobs retry it by themselves, with backoff)."
            )
        if self.retry is Retry.LIMITED:
            return gettext_noop("Send again once or twice; if it keeps failing, report it with this request's details.")
        if self.retry is Retry.NEW_USERSIG:
            return gettext_noop(
                "Nothing: the app made a new UserSig and retried once; "
                "only a repeat needs a look at the clock."
            )
        if self.retry is Retry.LATER:
            return gettext_noop("Wait about a minute, then send again.")
        if self.concerns_tag:
            return gettext_noop(
                "Retrying as is fails again: "
                "change the value (or the tag's settings in the console), then save."
            )
        if not self.known:
            return gettext_noop("Retrying is not known to help: look the code up in Tencent's documentation.")
        return gettext_noop(
            "Retrying as is fails again: "
            "fix the cause named in the meaning (configuration or account) first."
        )


def _table(*rows: tuple[tuple[int, ...], str, Retry] | tuple[tuple[int, ...], str, Retry, bool]):
    table: dict[int, ErrorCodeInfo] = {}
    for row in rows:
        codes, meaning, retry, *rest = row
        for code in codes:
            table[code] = ErrorCodeInfo(code, meaning, retry, concerns_tag=bool(rest and rest[0]))
    return table


ERROR_CODES: dict[int, ErrorCodeInfo] = _table(
    ((0,), gettext_noop("Success."), Retry.NEVER),
    # docs/tencent-im.md §4 and §5
    ((40001,), gettext_noop("A request parameter is wrong (Tencent could not decode the request)."), Retry.NEVER),
    ((40002,), gettext_noop("To_Account is missing from the request."), Retry.NEVER),
    ((40003,), gettext_noop("This UserID does not exist in Tencent IM; import the account first."), Retry.NEVER),
    ((40004,), gettext_noop("The request needs app admin rights; check IM_ADMIN_IDENTIFIER."), Retry.NEVER),
    ((40005,), gettext_noop("Tencent refused a value because it contains sensitive words."), Retry.NEVER, True),
    ((40006,), gettext_noop("Tencent had an internal server error; the request can be retried."), Retry.BACKOFF),
    ((40007,), gettext_noop("The app admin has no read permission on this tag (set it in the console)."),
     Retry.NEVER, True),
    ((40008,), gettext_noop("The app admin has no write permission on this tag (set it in the console)."),
     Retry.NEVER, True),
    ((40009,), gettext_noop("This tag does not exist in the app; custom tags must be created in the console first."),
     Retry.NEVER, True),
    ((40601,), gettext_noop("A value is too long for Tencent (more bytes than the tag allows)."), Retry.NEVER, True),
    ((40605,), gettext_noop("A value is not one of the allowed values for this standard tag."), Retry.NEVER, True),
    ((40610,), gettext_noop("A value has the wrong type (e.g. text where Tencent expects a number)."),
     Retry.NEVER, True),
    # docs/tencent-im.md §6
    ((60002,), gettext_noop("Tencent could not parse the HTTP request (a bug in the client)."), Retry.NEVER),
    ((60003,), gettext_noop("Tencent could not parse the request's JSON (a bug in the client)."), Retry.NEVER),
    ((60004, 60005), gettext_noop("The account or UserSig in the request is wrong (check the configuration)."),
     Retry.NEVER),
    ((60006,), gettext_noop("The SDKAppID is invalid (check IM_SDKAPPID)."), Retry.NEVER),
    ((60012,), gettext_noop("The SDKAppID is missing from the request."), Retry.NEVER),
    ((60016,), gettext_noop("The SDKAppID is disabled."), Retry.NEVER),
    ((60020,), gettext_noop("The app's Tencent IM plan has expired."), Retry.NEVER),
    ((60007, 60011, 60018, 60019), gettext_noop("Too many calls per second to Tencent; retry after a pause."),
     Retry.BACKOFF),
    ((60008,), gettext_noop("Tencent's service timed out or found the request malformed; retry once or twice."),
     Retry.LIMITED),
    ((60009,), gettext_noop("Wrong API path or command."), Retry.NEVER),
    ((60010,), gettext_noop("The identifier is not an app admin (check IM_ADMIN_IDENTIFIER)."), Retry.NEVER),
    ((60013,), gettext_noop("Tencent produced a JSON error in its response; retry once."), Retry.LIMITED),
    ((60014,), gettext_noop("Tencent's account switch timed out; retry."), Retry.BACKOFF),
    ((60015,), gettext_noop("A UserID in the request is not a string."), Retry.NEVER),
    ((60017,), gettext_noop("This request is disabled for the app."), Retry.NEVER),
    ((60021,), gettext_noop("The caller's IP address is not allowed (check the console's IP allowlist)."), Retry.NEVER),
    ((70001,), gettext_noop("The UserSig has expired; a new one is generated and the request retried once."),
     Retry.NEW_USERSIG),
    ((70002, 70003, 70005), gettext_noop("The UserSig is empty or invalid (a bug in the client)."), Retry.NEVER),
    ((70009,), gettext_noop("The UserSig's signature check failed: IM_SECRET_KEY is wrong."), Retry.NEVER),
    ((70013,), gettext_noop("The UserID in the request differs from the one in the UserSig."), Retry.NEVER),
    ((70014,), gettext_noop("The SDKAppID in the request differs from the one in the UserSig."), Retry.NEVER),
    ((70016,), gettext_noop("The public key is missing (a legacy ECDSA app)."), Retry.NEVER),
    ((70020,), gettext_noop("Tencent does not know this SDKAppID (check IM_SDKAPPID and IM_REGION)."), Retry.NEVER),
    ((70050,), gettext_noop("Too many UserSig checks; retry after about a minute."), Retry.LATER),
    ((70051,), gettext_noop("This account is blocklisted."), Retry.NEVER),
    ((70107,), gettext_noop("This UserID does not exist."), Retry.NEVER),
    ((70169, 70202), gettext_noop("Tencent's server timed out; the request can be retried."), Retry.BACKOFF),
    ((70398,), gettext_noop("The app's account limit is reached (the trial edition allows 100 accounts)."),
     Retry.NEVER),
    ((70402,), gettext_noop("A request parameter is invalid."), Retry.NEVER),
    ((70403,), gettext_noop("The request needs app admin rights."), Retry.NEVER),
    ((70500,), gettext_noop("Tencent had an internal server error; the request can be retried."), Retry.BACKOFF),
    ((72000,), gettext_noop("The trial edition's daily active user quota is exceeded."), Retry.NEVER),
)


def describe(code: int) -> ErrorCodeInfo:
    """The catalogue entry for ``code``; an unknown code is final and says so."""
    try:
        return ERROR_CODES[code]
    except KeyError:
        return ErrorCodeInfo(
            code,
            gettext_noop("An ErrorCode that is not in Tencent's documented catalogue; treated as final."),
            Retry.NEVER,
            known=False,
        )


# For the health check: codes that mean every call of the app fails until someone acts on the
# configuration, the credentials or the Tencent plan (docs/tencent-im.md §6, and 40004 of §4), and
# codes that mean Tencent's service itself failed or timed out. The rest (a bad value, an unknown
# UserID, the rate limit, an expired UserSig renewed at once) concern one request, not the service.
CONFIGURATION_CODES = frozenset({
    40004, 60004, 60005, 60006, 60009, 60010, 60012, 60016, 60017, 60020, 60021,
    70002, 70003, 70005, 70009, 70013, 70014, 70016, 70020, 70403, 72000,
})
SERVICE_FAILURE_CODES = frozenset({40006, 60008, 60013, 60014, 70169, 70202, 70500})
