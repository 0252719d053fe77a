"""The PBX side of the CRM: AMI link, call and agent state, PBX actions, simulator."""
