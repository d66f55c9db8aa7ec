"""Money is a decimal string plus an ISO 4217 currency, never a float (DESIGN §5). An amount
carries exactly its currency's minor units: `1500000000` VND, `99.50` USD, `1.250` KWD."""

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field, PlainSerializer

# Active ISO 4217 codes of circulating currencies (funds, metals and test codes left out).
_ISO_4217 = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_ISO_4217.split())
_NO_MINOR_UNIT = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV"}
    | {"XAF", "XOF", "XPF"}
)
_THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})


def _known(code: str) -> str:
    if code not in CURRENCIES:
        raise ValueError("not an ISO 4217 currency code, e.g. VND or USD")
    return code


Currency = Annotated[
    str,
    Field(pattern=r"^[A-Z]{3}$", examples=["VND"]),
    AfterValidator(_known),
]
Amount = Annotated[
    Decimal,
    Field(ge=0, max_digits=20, decimal_places=3, allow_inf_nan=False, examples=["1500000000"]),
]


def decimal_string(amount: Decimal) -> str:
    """Plain digits, never exponent notation: PostgreSQL hands 1500000000 back as 1.5E+9."""
    return format(amount, "f")


# An amount as responses write it: a decimal string with the digits stored.
AmountOut = Annotated[Decimal, PlainSerializer(decimal_string, return_type=str, when_used="json")]


def minor_units(currency: str) -> int:
    if currency in _NO_MINOR_UNIT:
        return 0
    return 3 if currency in _THREE_DECIMALS else 2


def in_currency(amount: Decimal, currency: str) -> Decimal:
    """The amount written with its currency's minor units; ValueError if it has finer ones
    (a VND amount with đồng fractions, a USD amount with a tenth of a cent)."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    exact = amount.quantize(exponent)
    if exact != amount:
        raise ValueError(f"{currency} amounts have {minor_units(currency)} decimal places")
    return exact
