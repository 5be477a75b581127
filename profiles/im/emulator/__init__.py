"""A local emulator of the Tencent IM REST API (docs/tencent-im.md §1–§6, the webhook of §8), for tests, benchmarks
and `make run`; these are the names the rest of the project imports."""

from .app import Emulator
from .callbacks import USER_CLIENT_IP, CallbackConfig, CallbackDelivery
from .faults import FAULT_KINDS, Fault
from .server import EmulatorServer
from .state import DEFAULT_LOCATION_MAX_BYTES, EmulatorState, RequestRecord, max_in_window

__all__ = [
    "DEFAULT_LOCATION_MAX_BYTES",
    "FAULT_KINDS",
    "USER_CLIENT_IP",
    "CallbackConfig",
    "CallbackDelivery",
    "Emulator",
    "EmulatorServer",
    "EmulatorState",
    "Fault",
    "RequestRecord",
    "max_in_window",
]
