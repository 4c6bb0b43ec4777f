# Localization: relevance against the annotated skull ellipse, per image, then summarised.
