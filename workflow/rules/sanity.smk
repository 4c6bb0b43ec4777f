# Sanity: cascading model randomisation (Adebayo et al. 2018), maps per stage, then similarity.
