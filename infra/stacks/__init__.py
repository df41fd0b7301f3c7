"""CloudFormation stacks of the Stepweave app."""
