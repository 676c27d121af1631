"""Example agent for `openrtc demo` and the end-to-end tests: books dental appointments."""

from livekit.agents import Agent, RunContext, function_tool

from openrtc import agent_config


@agent_config(name="dental", greeting="Greet the caller to the dental office.")
class DentalAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You book dental appointments for callers.")

    @function_tool
    async def book_appointment(self, context: RunContext, day: str = "monday") -> str:
        """Book a dental appointment on the given day."""
        return f"booked for {day}"
