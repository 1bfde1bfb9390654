<?php
// The front controller: every URL that is not a file comes here (try_files ... /index.php?$args).
require __DIR__ . '/../src/routes.php';

$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
[$status, $type, $body] = route($_SERVER['REQUEST_METHOD'], $path, $_GET, $_POST);
http_response_code($status);
header("Content-Type: $type");
echo $body;
