"""The command handler and its commands: one component per :class:`spec.Opcode`.

:class:`CommandHandler` is the dispatcher the top uses; each command's gateware is in
its own module here, built on :class:`~hw.commands.base.Command`.
"""

from .base import ANSWER_LAYOUT, TAIL_LAYOUT, Command, Reply
from .handler import COMMANDS, CommandHandler

__all__ = ["ANSWER_LAYOUT", "COMMANDS", "TAIL_LAYOUT", "Command", "CommandHandler", "Reply"]
