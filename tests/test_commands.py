from __future__ import annotations

from mediaportal.management.commands.up import Command as Up


def test_up_dev_help_says_only_the_web_server_reloads():
    help_text = " ".join(Up().create_parser("manage.py", "up").format_help().split())
    assert "--dev Reload the web server when code changes" in help_text
    assert "web server and worker" not in help_text
