"""What a refused pyvcloud request raised, as the drivers report it in their JSON summaries."""


def refusal(e):
    """Exception class, HTTP status, and the vcd error's minorErrorCode and message."""
    err = getattr(e, "vcd_error", None)
    return {"exception": type(e).__name__, "status": getattr(e, "status_code", None),
            "minor_error_code": None if err is None else err.get("minorErrorCode"),
            "message": None if err is None else err.get("message")}
