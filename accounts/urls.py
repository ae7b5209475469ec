from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import views
from accounts.forms import PortalLoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="login.html", authentication_form=PortalLoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
