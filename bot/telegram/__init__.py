"""The Telegram face of the fact-checking engine (python-telegram-bot v22)."""
