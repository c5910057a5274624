"""The sandbox: a fork server that runs each scenario in a child and returns structured events."""
