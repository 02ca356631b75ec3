"""The supervisors' web console: a server-rendered Starlette app over the same store as the bot.

- app.py — the routes (login, overview, tickets, exports) and ``create_app``
- access.py — who is logged in and the one rule for what each role may see
- auth.py — password hashes, the login throttle and CSRF tokens
- periods.py — the periods people choose (today, this week … a date range)
- tables.py — every table the console shows, typed, so pages and exports share them
- exports.py — a table as XLSX or as CSV with a byte-order mark
- charts.py — inline SVG charts drawn on the server (no scripts, no CDN)
- serve.py — running the console with uvicorn, alone or beside ``minyi run``
"""
