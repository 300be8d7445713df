// Starts Swagger UI on /api/docs (a static file, so the page needs no inline script).
document.addEventListener("DOMContentLoaded", function () {
  var host = document.getElementById("swagger-ui");
  if (!host || !window.SwaggerUIBundle) return;
  window.ui = SwaggerUIBundle({
    url: host.getAttribute("data-openapi"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
