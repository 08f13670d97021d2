/* Cohesion monitor, Data Docs: what bootstrap-table draws in the browser, made accessible (WCAG 2.1 AA).
   Loaded after GX's scripts (our js_script_imports.j2) and before any table is drawn. GX's pages configure
   their tables; the filter controls and the scrolling box around a table are made by bootstrap-table, so
   they are set up here rather than in a template. */
(function ($) {
  "use strict";
  if (!$ || !$.fn || !$.fn.bootstrapTable) {
    return;
  }

  function plainText(html) {
    return $("<div>").html(html == null ? "" : String(html)).text().replace(/\s+/g, " ").trim();
  }

  function attribute(value) {
    return $("<div>").text(value).html().replace(/"/g, "&quot;");
  }

  function columnTitle(table, field) {
    var columns = (table && table.columns) || [];
    for (var i = 0; i < columns.length; i += 1) {
      if (columns[i] && columns[i].field === field) {
        return plainText(columns[i].title) || field;
      }
    }
    return field;
  }

  // The filter-control extension's controls (a text box, a list, a date box under each column's heading)
  // have no label (WCAG 1.3.1, 4.1.2): each is named after its column, "Filter by Run Name".
  var templates = $.fn.bootstrapTable.defaults.filterTemplate || {};
  $.each(templates, function (kind, template) {
    templates[kind] = function (table, field) {
      var html = template.apply(this, arguments);
      var label = 'aria-label="' + attribute("Filter by " + columnTitle(table, field)) + '" ';
      return String(html).replace(/^(\s*<(?:input|select|textarea)\s)/i, "$1" + label);
    };
  });

  // A table wider than its box scrolls inside it: the box is a named region a keyboard can reach and
  // scroll (WCAG 2.1.1), as the tables of the project's own reports are.
  $(document).on("post-body.bs.table", function (event) {
    var box = $(event.target).closest(".fixed-table-body");
    if (!box.length || box.attr("tabindex") !== undefined) {
      return;
    }
    var heading = plainText($(event.target).closest(".ge-section").find("h5, h4").first().text());
    box.attr({tabindex: "0", role: "region", "aria-label": heading ? "Table: " + heading : "Table"});
  });
})(window.jQuery);
