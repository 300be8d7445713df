"""The operations console: the web shell (sign-in, navigation, the page kit) and its pages."""
