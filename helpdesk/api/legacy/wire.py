"""The 1C extension's wire shapes: any 1C object (common fields checked, every other field
kept as sent), the partner bundle, a balance, and the seed's answer envelope
`{result, error, ...}`."""
from __future__ import annotations

from typing import Annotated

from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, field_validator

from .. import schemas

__all__ = ["ENTITIES", "DATE_FORMAT", "EMPTY_DATE", "Guid", "OneCObject", "PartnerBody",
           "BalanceBody", "ok", "refused"]


ENTITIES = ("task", "partner", "department", "contract", "manager", "taskType",
            "taskStatus", "bankDoc", "cardDoc", "cashDoc")


DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


EMPTY_DATE = "0001-01-01T00:00:00"


Guid = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=r"^[^\x00]+$")]


def _opt(n: int):
    return Annotated[str | None, Field(None, max_length=n)]


def _blank_is_none(value):
    """1C sends an empty string for "no reference" (e.g. the balance's `guid`)."""
    return None if isinstance(value, str) and not value.strip() else value


OptGuid = Annotated[Guid | None, BeforeValidator(_blank_is_none)]


class OneCObject(BaseModel):
    """Any 1C object: the common fields are checked, every other field is kept as sent."""
    model_config = ConfigDict(extra="allow")
    guid: Guid | None = None
    code: _opt(32) = None
    name: _opt(500) = None
    markedForDel: bool = False
    inn: _opt(20) = None
    kpp: _opt(9) = None
    ogrn: _opt(15) = None
    guidPartner: _opt(64) = None
    guidDepartment: _opt(64) = None
    guidManager: _opt(64) = None
    guidAuthor: _opt(64) = None
    description: _opt(3000) = None
    comment: _opt(3000) = None
    decision: _opt(3000) = None
    type: _opt(200) = None
    closingDate: _opt(40) = None

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value):
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class PartnerBody(OneCObject):
    """A partner, or the bundle {partners, departments, contracts, balance}."""
    partners: list[OneCObject] | None = Field(None, max_length=1000)
    departments: list[OneCObject] | None = Field(None, max_length=5000)
    contracts: list[OneCObject] | None = Field(None, max_length=5000)
    balance: list["BalanceBody"] | None = Field(None, max_length=1000)


class BalanceBody(BaseModel):
    """A partner's balance; an empty `guid` means "find the partner by INN and KPP", as the
    original did."""
    model_config = ConfigDict(extra="allow")
    guid: OptGuid = None
    inn: _opt(20) = None
    kpp: _opt(9) = None
    amount: Annotated[int | str, BeforeValidator(schemas.kopecks)] = Field(
        description="kopecks (the seed's contract: an integer sent as a string), as a number "
                    "or a string of digits; a fraction such as \"12.5\" is refused, not cut")


PartnerBody.model_rebuild()


def ok(**fields) -> dict:
    return {"result": True, "error": "", **fields}


def refused(status: int, message: str) -> JSONResponse:
    return JSONResponse({"result": False, "error": message}, status_code=status)
