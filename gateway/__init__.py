"""oscar-gateway: HTTP routes, the OSCAR client and the mounting of Gradio apps."""
