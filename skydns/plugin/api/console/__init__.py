"""The web console: zones, names, health, the instance and its traffic, served by the api plugin."""
