"""Settings, logging set-up and the Asterisk configuration we ship (config/asterisk/)."""
