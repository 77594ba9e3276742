"""AWS CDK definitions. Nothing here imports handler code: functions are referenced by handler path."""
