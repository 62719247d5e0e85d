"""Framework and library instrumentations, each installed by a post-import hook."""
