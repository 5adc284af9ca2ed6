"""Numbers that several layers share, with no dependencies: one definition each."""

#: Speed of light in km/s.
C_KMS = 299_792.458

#: A latent whose mean KL from the prior is at most this (nats) carries no
#: information: the threshold of UDR (Duan et al. 2020). Training's collapse
#: diagnosis, the informative-dimension selector's floor and the inspection
#: read-outs all use it.
ACTIVE_KL = 0.01
