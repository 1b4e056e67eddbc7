"""What a request to a model says, checked: messages and sampling, structured output, tools."""
