"""A stand-in for Asterisk on loopback speaking AMI, FastAGI and AudioSocket as the recordings show."""
