"""The agency client: sends an agency's bets to the server and asks for its winners.

``python -m client``; see client/main.py for the flow and docs/CONVENTIONS.md for its log lines.
"""
