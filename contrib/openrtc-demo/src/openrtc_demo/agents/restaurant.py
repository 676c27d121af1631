"""Example agent for `openrtc demo` and the end-to-end tests: takes table reservations."""

from livekit.agents import Agent

from openrtc import agent_config


@agent_config(name="restaurant", greeting="Greet the caller to the restaurant.")
class RestaurantAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You take restaurant reservations.")
