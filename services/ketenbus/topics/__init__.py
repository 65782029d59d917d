"""topics.yaml: the spec, topic administration and the ACLs generated from it."""
