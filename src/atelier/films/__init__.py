"""Films (Vividverse): screenplays in, reviewed by validators, the chosen one made into a
film on the grid. Its first slice is the screenplay itself: the Fountain parser."""
