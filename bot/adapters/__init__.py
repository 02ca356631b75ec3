"""Platform adapters: each turns one chat platform's SDK objects into ``bot.events`` and back.

Every adapter imports only ``bot.events``, the standard library and its own SDK; adapters are
imported lazily by ``bot.app`` so that an optional SDK only matters when its platform is enabled.
"""
