"""minyi (民意): a chat bot for officials in residents' group chats — neutral events, dispatcher,
adapters, text understanding, templating and the command line."""

__version__ = "0.1.0"
