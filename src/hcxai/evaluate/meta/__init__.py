"""Meta-explanations: SpRAy clusters of many maps, and whether badly predicted images
are explained differently."""
