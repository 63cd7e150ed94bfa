def site(request):
    user = getattr(request, "user", None)
    return {"is_instructor": bool(user and user.is_authenticated and user.is_instructor)}
